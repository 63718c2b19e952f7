"""`python -m kimi_graph.cli`: the `kimi-graph` command."""

import sys

from kimi_graph.cli import main

sys.exit(main())
