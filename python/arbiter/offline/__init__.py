"""Offline tools, apart from the request path: the demo, the simulated upstream pool (`sim`), the
project's own prompt set (`workload`), replays of recorded outcomes through the routing core
(`replay`, `replay_http`, `outcome_table`, `routing_metrics`) and the difficulty model's training
(`train_difficulty`). Nothing under `arbiter` outside this package imports it, except the CLI."""
