"""`make sam-local`: the built template's functions run by `sam local invoke` in SAM's Lambda emulator."""
