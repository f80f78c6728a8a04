# Completion of the `ward` command for bash. Installed as
# share/bash-completion/completions/ward, which bash-completion loads the
# first time `ward` is completed; or source it from ~/.bashrc.
#
# Everything it offers comes from the binary being completed, so that it
# follows the tool as it changes: the commands, the options and what the
# positional arguments are (NAME, CONFIG, DIR, SIG...) from the --help of
# each command, read when TAB is pressed; service names from a running
# daemon, with one `ward ctl --json status` that gives up after a second,
# silently when no daemon answers. It needs bash alone, not the
# bash-completion package.

# The lines of one help text, and what they say, go through awk once:
# what _ward_parse prints, one item a line, is
#   cmd WORD        a command of this level
#   opt OPTION      an option (-x or --xx) named outside a Commands: block
#   val OPTION ARG  an option that takes a value, with its placeholder
#   pos ARG         the next positional argument, in order (ARG... repeats)
# for the usage line of the words given (the command path, "ctl stop").
_ward_parse() {
  awk -v path="$1" '
    BEGIN { npath = split(path, want, " ") }
    # Usage lines are the first paragraph; they may repeat the program
    # for each form ("ward ext list ...", "ward ext check ...").
    NR == 1 || (usage && $0 != "") {
      usage = 1
      line = $0
      sub(/^Usage:/, "", line)
      usage_line(line)
      next
    }
    usage && $0 == "" { usage = 0 }
    /^Commands:$/ { commands = 1; next }
    $0 == "" { commands = 0; next }
    # A Commands: block names commands (and their own options, which are
    # not this level'"'"'s); anywhere else an option named is one of this
    # command'"'"'s, in its Options: list or in a sentence ("-t (--timestamps)").
    commands && /^  [a-z][a-z-]*( |$)/ { print "cmd " $1 }
    !commands { option_line($0) }

    # The words of a line, with brackets, bars, commas, slashes and
    # parentheses as words of their own: "[--json] DIR" is an option and
    # an argument, "[-n N]" an option and its value.
    function words(s, w) {
      gsub(/[][|,()\/]/, " & ", s)
      return split(s, w, " ")
    }

    # The options of a line, and those that take a value: an option
    # followed by a word in capitals ("--socket PATH"; "-s, --socket PATH"
    # for both).
    function option_line(s,    n, w, i, o, short) {
      n = words(s, w)
      short = ""
      for (i = 1; i <= n; i++) {
        o = w[i]
        sub(/\.$/, "", o) # the end of a sentence
        if (o !~ /^--?[A-Za-z][A-Za-z0-9-]*$/) continue
        print "opt " o
        if (i < n && w[i + 1] ~ /^[A-Z]+$/) {
          print "val " o " " w[i + 1]
          if (short != "") print "val " short " " w[i + 1]
        }
        short = (o ~ /^-[A-Za-z]$/ && w[i + 1] == ",") ? o : ""
      }
    }

    # A usage line: its options, and, when it is the form of the command
    # path (its words, in order, after the program), the word after the
    # path (a command, if in lower case) and the positional arguments.
    function usage_line(s,    n, w, i, k) {
      option_line(s)
      n = words(s, w)
      k = 1
      for (i = 2; i <= n && k <= npath; i++)
        if (w[i] == want[k]) k++
      if (k <= npath) return
      for (; i <= n; i++) {
        if (w[i] ~ /^[][|]$/) continue
        if (w[i] ~ /^[a-z][a-z-]*$/) { print "cmd " w[i]; return }
        break
      }
      for (; i <= n; i++) {
        if (w[i] ~ /^-./ && w[i] != "--") { if (i < n && w[i + 1] ~ /^[A-Z]+$/) i++; continue }
        if (w[i] ~ /^[A-Z]+(\.\.\.)?$/ && w[i] != "OPTIONS") print "pos " w[i]
      }
    }
  '
}

# The names ward ctl takes for NAME, from the daemon the command line
# names (-s, -c or the defaults): its services, their groups and "all"
# (or, with a dot in the word, the instances).
_ward_services() {
  local ward=$1 cur=$2
  shift 2
  local key='"(service|group)"' all=all
  [[ $cur == *.* ]] && key='"name"' all=
  # --timeout bounds the request, the handshake included; timeout(1) the
  # whole, for a daemon that takes the connection and never answers.
  local limit=()
  command -v timeout >/dev/null 2>&1 && limit=(timeout 2)
  local names
  names=$("${limit[@]}" "$ward" ctl "$@" --timeout 1 --json status 2>/dev/null |
    grep -Eo "$key: *\"[^\"]*\"" | sed 's/.*: *"\(.*\)"/\1/')
  [[ -n $names ]] && printf '%s\n' "$names" $all | sort -u
}

_ward() {
  local ward=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} cword=$COMP_CWORD
  [[ $ward == "~/"* ]] && ward=$HOME/${ward#"~/"}
  COMPREPLY=()

  # --name=VALUE: bash splits it at the "=" (COMP_WORDBREAKS).
  local prev=
  if ((cword >= 2)) && [[ ${COMP_WORDS[cword - 1]} == "=" ]]; then
    prev=${COMP_WORDS[cword - 2]}
  elif ((cword >= 1)) && [[ $cur == "=" ]]; then
    prev=${COMP_WORDS[cword - 1]} cur=
  elif ((cword >= 2)); then
    prev=${COMP_WORDS[cword - 1]}
  fi

  # Walk the words before the cursor: commands deepen the path (and the
  # help read), options that take a value skip it, other words are
  # positional arguments, counted.
  local path=() socket=() npos=0 after_dashes=0 ndashed=0 i w help parsed
  help=$("$ward" --help 2>/dev/null) || return 0
  parsed=$(_ward_parse "" <<<"$help")
  for ((i = 1; i < cword; i++)); do
    w=${COMP_WORDS[i]}
    [[ $w == "=" ]] && continue
    if ((after_dashes)); then
      ndashed=$((ndashed + 1))
    elif [[ $w == -- ]]; then
      after_dashes=1
    elif [[ $w == -* ]]; then
      # An option, and its value if it takes one: --name=V, --name V.
      local name=${w%%=*} value=
      if [[ $w == *=* ]]; then
        value=${w#*=}
      elif [[ ${COMP_WORDS[i + 1]-} == "=" ]] && ((i + 2 < cword)); then
        value=${COMP_WORDS[i + 2]}
        i=$((i + 2))
      elif grep -qx "val $name [A-Z]*" <<<"$parsed"; then
        value=${COMP_WORDS[i + 1]-}
        i=$((i + 1))
      fi
      # The socket options of `ward ctl`, kept for asking the daemon.
      case $name in
      -s | --socket | -c | --config) socket+=("$name" "$value") ;;
      esac
    elif ((npos == 0)) && grep -qx "cmd $w" <<<"$parsed"; then
      path+=("$w")
      help=$("$ward" "${path[@]}" --help 2>/dev/null) || return 0
      parsed=$(_ward_parse "${path[*]}" <<<"$help")
    else
      npos=$((npos + 1))
    fi
  done

  # The value of an option.
  local arg=
  if [[ $prev == -* ]] && ! ((after_dashes)); then
    arg=$(sed -n "s/^val ${prev%%=*} //p" <<<"$parsed" | head -n 1)
  fi
  # Else, the positional argument at the cursor, by its placeholder.
  if [[ -z $arg && $cur != -* ]] || ((after_dashes)); then
    if ((after_dashes)); then
      # After "--": a program (spawn's CMD), then its arguments.
      arg=CMD
      ((ndashed > 0)) && arg=FILE
    else
      local pos
      mapfile -t pos < <(sed -n 's/^pos //p' <<<"$parsed")
      if ((npos < ${#pos[@]})); then
        arg=${pos[npos]}
      elif ((${#pos[@]} > 0)) && [[ ${pos[-1]} == *... ]]; then
        arg=${pos[-1]}
      fi
      # A level with commands and none chosen yet: the commands.
      if ((npos == 0)) && grep -q '^cmd ' <<<"$parsed"; then
        mapfile -t COMPREPLY < <(compgen -W "$(sed -n 's/^cmd //p' <<<"$parsed")" -- "$cur")
        return 0
      fi
    fi
  fi

  if [[ -z $arg ]]; then
    [[ $cur == -* || $cur == "" ]] || return 0
    mapfile -t COMPREPLY < <(compgen -W "$(sed -n 's/^opt //p' <<<"$parsed" | sort -u)" -- "$cur")
    return 0
  fi
  case ${arg%...} in
  NAME)
    # A transient service gets a new name: nothing to offer.
    ((${#path[@]})) && [[ ${path[-1]} == spawn ]] && return 0
    mapfile -t COMPREPLY < <(compgen -W "$(_ward_services "$ward" "$cur" "${socket[@]}")" -- "$cur")
    ;;
  SIG)
    mapfile -t COMPREPLY < <(compgen -A signal -- "SIG$cur" | sed -n 's/^SIG\([A-Z][A-Z0-9]*\)$/\1/p')
    ;;
  MODE) mapfile -t COMPREPLY < <(compgen -W "always on-failure never" -- "$cur") ;;
  R) mapfile -t COMPREPLY < <(compgen -W "handshake up notify" -- "$cur") ;;
  DIR)
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -d -- "$cur")
    ;;
  CMD)
    mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u)
    ;;
  CONFIG | FILE | PATH)
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    ;;
  esac
  return 0
}

complete -F _ward ward
