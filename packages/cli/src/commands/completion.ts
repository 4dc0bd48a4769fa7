import type { Command } from "commander";
import { UsageError } from "../errors.js";

function flagsOf(command: Command): string[] {
  const flags = command.options.flatMap((o) => [o.short, o.long].filter((f): f is string => typeof f === "string"));
  return [...flags, "--help"];
}

/**
 * A bash completion script generated from the program's own commands and options, so it never drifts from them.
 * zsh loads it through bashcompinit.
 */
export function completionScript(program: Command, shell: string): string {
  if (shell !== "bash" && shell !== "zsh") throw new UsageError(`no completion for ${JSON.stringify(shell)}; supported: bash, zsh`);
  const commands = program.createHelp().visibleCommands(program).filter((c) => c.name() !== "help");
  const globals = flagsOf(program).filter((f) => f !== "--help" && f !== "-h");
  // Options that take a value: the word after them is not the command name.
  const valued = program.options.filter((o) => o.required || o.optional).flatMap((o) => [o.short, o.long].filter((f): f is string => typeof f === "string"));
  const cases = commands
    .map((c) => `    ${c.name()}) opts="${flagsOf(c).join(" ")}" ;;`)
    .join("\n");
  const script = `# range(1) completion for ${shell}. Load it with:  source <(range completion ${shell})
_range_complete() {
  local cur cmd opts i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      ${valued.join("|")}) ((i++)) ;;
      -*) ;;
      *) cmd="\${COMP_WORDS[i]}"; break ;;
    esac
  done
  if [[ -z "$cmd" ]]; then
    COMPREPLY=( $(compgen -W "${commands.map((c) => c.name()).join(" ")} ${globals.join(" ")}" -- "$cur") )
    return 0
  fi
  opts=""
  case "$cmd" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts ${globals.join(" ")}" -- "$cur") )
  elif [[ "$cmd" == completion ]]; then
    COMPREPLY=( $(compgen -W "bash zsh" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
  return 0
}
complete -o default -o filenames -F _range_complete range
`;
  return shell === "zsh" ? `autoload -U +X bashcompinit && bashcompinit\n${script}` : script;
}
