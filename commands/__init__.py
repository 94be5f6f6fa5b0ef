"""The `kairos` command line and the offline work it runs: index, train, eval, synth, snapshots, demo."""
