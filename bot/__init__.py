"""The assistant's tooling: settings, the `tandem` command, the stack, the sample store."""
