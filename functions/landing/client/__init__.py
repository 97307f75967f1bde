"""A command-line client of the uploads API (`landing upload`): standard library only, never imported by handlers."""
