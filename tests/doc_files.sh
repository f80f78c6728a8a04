#!/usr/bin/env bash
# doc_files.sh SOURCE_DIR — a file a document shows is shown as it is.
#
# In docs/*.md, the fenced block that follows a marker line
#
#   <!-- file: PATH -->
#
# must hold exactly the file PATH (relative to the source tree); and each
# file so shown must exist.
set -euo pipefail
src=${1:?usage: doc_files.sh SOURCE_DIR}
status=0
shown=0
for doc in "$src"/docs/*.md; do
  while IFS= read -r path; do
    shown=$((shown + 1))
    block=$(awk -v want="<!-- file: $path -->" '
      $0 == want { armed = 1; next }
      armed && /^```/ && !inside { inside = 1; next }
      inside && /^```$/ { exit }
      inside { print }' "$doc")
    if [ ! -f "$src/$path" ]; then
      echo "$doc: shows $path, which does not exist" >&2
      status=1
    elif [ "$block" != "$(cat "$src/$path")" ]; then
      echo "$doc: the block after <!-- file: $path --> differs from $path:" >&2
      diff <(printf '%s\n' "$block") "$src/$path" >&2 || true
      status=1
    fi
  done < <(sed -n 's/^<!-- file: \(.*\) -->$/\1/p' "$doc")
done
[ "$shown" -gt 0 ] || { echo "no <!-- file: --> marker in docs/: nothing checked" >&2; exit 1; }
exit $status
