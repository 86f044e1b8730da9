package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() {
	subcommands = append(subcommands, newCompletionCmd)
}

// newCompletionCmd replaces cobra's default completion command with one whose help says how to
// install the script for each shell.
func newCompletionCmd(*globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a shell completion script for meshlab.

  bash:       source <(meshlab completion bash)
              or: meshlab completion bash > /etc/bash_completion.d/meshlab
  zsh:        meshlab completion zsh > "${fpath[1]}/_meshlab"
  fish:       meshlab completion fish > ~/.config/fish/completions/meshlab.fish
  powershell: meshlab completion powershell | Out-String | Invoke-Expression`,
		Args:                  cobra.ExactArgs(1),
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return badInput(fmt.Errorf("unknown shell %q: use bash, zsh, fish or powershell", args[0]))
		},
	}
}
