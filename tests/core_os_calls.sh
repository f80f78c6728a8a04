#!/bin/sh
# core_os_calls.sh SRC — the portable core makes no system call of its own:
# sockets, pipes, processes, signals, files and the clock go through the
# platform header (src/platform.h), implemented once per platform under
# src/<platform>/. Fails, naming file and line, when a core file (src/*.c)
# calls one of the functions below. Comments are not looked at.
#
# Descriptors are opaque in the core (ward__fd): it also fails on a
# descriptor compared with a number or set to one (`fd < 0`,
# `out_fd = -1`: use WARD__FD_NONE and ward__fd_valid), on a pidfd named
# (ward__proc_watch), and on POSIX-only types (pid_t, ssize_t).
src=${1:?usage: core_os_calls.sh SOURCE_DIR}
calls='socket|socketpair|connect|bind|listen|accept4?|send|sendmsg|sendto|recv|recvmsg|recvfrom|shutdown|read|write|readv|writev|pipe2?|poll|ppoll|select|epoll_[a-z_]+|eventfd|timerfd_[a-z_]+|fork|vfork|exec[lv]p?e?|posix_spawnp?|waitpid|waitid|wait|kill|killpg|sigaction|signal|raise|prctl|getpid|getppid|geteuid|getuid|open|openat|close|dup2?|dup3|fcntl|ioctl|mkdtemp|mkdir|rmdir|unlink|stat|lstat|fstat|realpath|nanosleep|usleep|sleep|clock_gettime|gettimeofday|mmap|munmap|getrandom|pidfd_[a-z_]+|syscall|setsockopt|getsockopt|close_range|nftw|opendir|readdir|malloc_trim'
status=0
for f in "$src"/src/*.c "$src"/src/ext/*.c; do
  # Blank out /* ... */ comments (keeping their lines) and string
  # literals, then look for a call: a name from the list followed by '('.
  hits=$(perl -0pe 's{/\*.*?\*/}{ (my $c = $&) =~ s/[^\n]//g; $c }gse; s/"(\\.|[^"\\])*"/""/g' "$f" |
         grep -nE "(^|[^A-Za-z0-9_.>])($calls)[[:space:]]*\(" || true)
  if [ -n "$hits" ]; then
    echo "$f: system calls in the portable core (use src/platform.h):"
    printf '%s\n' "$hits" | sed 's/^/    /'
    status=1
  fi
done
fdname='[A-Za-z_]*fd[A-Za-z_0-9]*(\[[^]]*\])?'
for f in "$src"/src/*.c "$src"/src/*.h "$src"/src/ext/*.c "$src"/src/ext/*.h; do
  [ "$(basename "$f")" = platform.h ] && continue
  hits=$(perl -0pe 's{/\*.*?\*/}{ (my $c = $&) =~ s/[^\n]//g; $c }gse; s/"(\\.|[^"\\])*"/""/g' "$f" |
         grep -nE "(^|[^A-Za-z0-9_])$fdname[[:space:]]*(<|<=|>|>=|==|!=)[[:space:]]*-?[0-9]|(^|[^A-Za-z0-9_])$fdname[[:space:]]*=[[:space:]]*-[0-9]|(^|[^A-Za-z0-9_])(pidfd|pid_t|ssize_t)([^A-Za-z0-9_]|$)" || true)
  if [ -n "$hits" ]; then
    echo "$f: a descriptor used as a number (use ward__fd, WARD__FD_NONE, ward__fd_valid):"
    printf '%s\n' "$hits" | sed 's/^/    /'
    status=1
  fi
done
[ $status -eq 0 ] && echo "no system call in src/*.c, no descriptor used as a number"
exit $status
