#!/bin/sh
# backend_calls.sh LIBWARD.a SRC — the portable POSIX backend uses nothing
# that only Linux has, so that it builds and behaves the same on macOS and
# the BSDs. Run by ctest in a WARD_BACKEND=posix build, on Linux: fails,
# naming them, when the library's objects call a Linux-only function
# (their undefined symbols, `nm -u`), or when a source file built into it
# (src/*.c, src/unix/, src/posix/) names /proc. Comments are not looked at.
lib=${1:?usage: backend_calls.sh LIBWARD.a SOURCE_DIR}
src=${2:?usage: backend_calls.sh LIBWARD.a SOURCE_DIR}
linux_only='epoll_[a-z_0-9]+|eventfd(_[a-z]+)?|timerfd_[a-z]+|pidfd_[a-z_]+|clone3?|__clone|prctl|signalfd[0-9]*|close_range|getdents(64)?|malloc_trim|syscall|inotify_[a-z_]+|sched_setaffinity|memfd_create|splice|tee|vmsplice|gettid|pthread_getattr_np'
status=0
if ! command -v nm >/dev/null 2>&1; then
  echo "nm not found (binutils)"
  exit 1
fi
hits=$(nm -u "$lib" | awk '{print $NF}' | sed 's/@.*//' | sort -u | grep -xE "$linux_only" || true)
if [ -n "$hits" ]; then
  echo "$lib: the posix backend calls what only Linux has:"
  printf '%s\n' "$hits" | sed 's/^/    /'
  status=1
fi
for f in "$src"/src/*.c "$src"/src/unix/*.c "$src"/src/posix/*.c; do
  hits=$(perl -0pe 's{/\*.*?\*/}{ (my $c = $&) =~ s/[^\n]//g; $c }gse' "$f" | grep -n '/proc' || true)
  if [ -n "$hits" ]; then
    echo "$f: reads /proc, which the posix backend may not:"
    printf '%s\n' "$hits" | sed 's/^/    /'
    status=1
  fi
done
[ $status -eq 0 ] && echo "no Linux-only call in the posix backend"
exit $status
