"""Settings for the whole test suite."""

import os

# The terminal UI's tab underline slides into place; a snapshot taken while it
# moves differs from one taken after. Tests draw every frame at rest.
os.environ["TEXTUAL_ANIMATIONS"] = "none"
