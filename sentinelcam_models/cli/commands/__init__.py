"""One module per group of commands: parse, call, render."""
