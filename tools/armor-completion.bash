# bash completion for armor: subcommands, db subcommands, options, experiment files, plugin names.
#
#   source tools/armor-completion.bash        # in ~/.bashrc, for the build tree's build/armor
# An installed armor has it in <prefix>/share/bash-completion/completions/armor, which the
# bash-completion package loads on demand when <prefix> is /usr or /usr/local.
#
# Everything is read from the armor being completed (the word typed: armor, build/armor, ...), so
# the lists follow the program: `armor --help` for subcommands, `armor <command> --help` for
# options, `armor plugins` for plugin names (with the --plugin-path options already on the line).

# The program's own lists. $1: the armor program as typed.
_armor_commands() { "$1" --help 2> /dev/null | awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }'; }
# The subcommands of command $2 (db, sweep), as `armor $2 --help` lists them.
_armor_subcommands() { "$1" "$2" --help 2> /dev/null | awk '/^subcommands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }'; }
# The options a (sub)command's --help lists in its option column. $1: program, then the command words.
_armor_options() {
  "$@" --help 2> /dev/null | awk '/^  +-/ { if (match($0, /--[a-z][a-z0-9-]*/)) print substr($0, RSTART, RLENGTH) }'
}
# KIND/NAME of every registered component, or NAME of one kind ($2). Extra arguments: --plugin-path options.
_armor_plugins() {
  local program=$1 kind=$2
  shift 2
  "$program" plugins "$@" 2> /dev/null | awk -v kind="$kind" 'NR > 2 && NF >= 2 {
    if (kind == "") print $1 "/" $2; else if ($1 == kind) print $2 }'
}

# Whether option $1 takes a value (so the next word is that value, not a command or argument).
_armor_takes_value() {
  case $1 in
    --db | --plugin-path | --outputs | -o | --output | --format | -j | --jobs | --max-retries | --constraint | \
      --sweeper | --trials | --early-stop | --sweep | --status | --where | -c | --columns | --sort | --limit | \
      --rows | --cols | --metric | --by | --x | --lines | --curve | --launcher | --slurm-config | \
      --slurm-partition | --slurm-time | --slurm-cpus-per-task | --slurm-gpus-per-task | --slurm-runs-per-task | \
      --slurm-max-parallel | --sbatch-option | --poll-seconds) return 0 ;;
  esac
  return 1
}

_armor() {
  local cur prev program
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=""
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  program=${COMP_WORDS[0]}
  program=${program/#\~/$HOME}
  COMPREPLY=()

  # The words before the cursor that are not options: the command path (run, db plot, ...).
  local -a words=() plugin_paths=()
  local i word
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ $word == --plugin-path ]] && ((i + 1 < COMP_CWORD)); then
      plugin_paths+=(--plugin-path "${COMP_WORDS[i + 1]}")
      ((i++))
    elif [[ $word == --plugin-path=* ]]; then
      plugin_paths+=("$word")
    elif [[ $word != -* ]] && ! _armor_takes_value "${COMP_WORDS[i - 1]}"; then
      words+=("$word")
    fi
  done
  local command=${words[0]-}

  # Option values.
  case $prev in
    --db) mapfile -t COMPREPLY < <(compgen -f -X '!*.db' -- "$cur"; compgen -d -- "$cur"); return ;;
    --plugin-path) mapfile -t COMPREPLY < <(compgen -f -X '!*.so' -- "$cur"; compgen -d -- "$cur"); return ;;
    --outputs) mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return ;;
    -o | --output) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
    --format) mapfile -t COMPREPLY < <(compgen -W "auto table plain csv json markdown" -- "$cur"); return ;;
    --sweeper) mapfile -t COMPREPLY < <(compgen -W "grid random" -- "$cur"); return ;;
    --early-stop) mapfile -t COMPREPLY < <(compgen -W "asha none" -- "$cur"); return ;;
    --status) mapfile -t COMPREPLY < <(compgen -W "pending running finished failed diverged interrupted" -- "$cur"); return ;;
  esac

  if [[ -z $command ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_armor_commands "$program") --help --version" -- "$cur")
    return
  fi

  # The subcommand path whose --help lists the options: armor db list, armor db plot lines,
  # armor sweep work, armor run, ...
  local -a path=("$command")
  if [[ ($command == db || $command == sweep) && ${#words[@]} -ge 2 ]]; then
    path+=("${words[1]}")
    [[ $command == db && ${words[1]} == plot && ${#words[@]} -ge 3 ]] && path+=("${words[2]}")
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_armor_options "$program" "${path[@]}")" -- "$cur")
    return
  fi

  case $command in
    run | config)
      if ((${#words[@]} == 1)); then  # the experiment file
        compopt -o filenames 2> /dev/null
        mapfile -t COMPREPLY < <(compgen -f -X '!*.toml' -- "$cur"; compgen -d -- "$cur")
      elif [[ $cur =~ ^[+~]*(data|model|gate|balancing|attack|trainer)\.name=(.*)$ ]]; then
        # section.name=<plugin of that section's kind>
        local section=${BASH_REMATCH[1]} kind=${BASH_REMATCH[1]}
        [[ $section == data ]] && kind=dataset
        local prefix=${cur%%=*}=
        mapfile -t COMPREPLY < <(compgen -P "$prefix" -W "$(_armor_plugins "$program" "$kind" "${plugin_paths[@]}")" \
          -- "${BASH_REMATCH[2]}")
      else
        compopt -o nospace 2> /dev/null
        mapfile -t COMPREPLY < <(compgen -W "data.name= model.name= gate.name= balancing.name= attack.name= trainer.name=" -- "$cur")
      fi
      ;;
    plugins)
      if ((${#words[@]} == 1)); then
        mapfile -t COMPREPLY < <(compgen -W "show" -- "$cur")
      elif [[ ${words[1]} == show && ${#words[@]} == 2 ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_armor_plugins "$program" "" "${plugin_paths[@]}")" -- "$cur")
      fi
      ;;
    sweep)
      ((${#words[@]} == 1)) && mapfile -t COMPREPLY < <(compgen -W "$(_armor_subcommands "$program" sweep)" -- "$cur")
      ;;
    db)
      if ((${#words[@]} == 1)); then
        mapfile -t COMPREPLY < <(compgen -W "$(_armor_subcommands "$program" db)" -- "$cur")
      elif [[ ${words[1]} == plot && ${#words[@]} == 2 ]]; then
        mapfile -t COMPREPLY < <(compgen -W "lines heatmap curves" -- "$cur")
      fi
      ;;
  esac
}

complete -F _armor armor
