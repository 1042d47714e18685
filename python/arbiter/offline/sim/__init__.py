"""`arbiter sim`: a simulated upstream pool for the demo, e2e tests and benches.

Models with quality/latency/price/failure profiles (sim.toml), or replay of recorded outcomes,
each served over OpenAI's Chat Completions API or (`protocol = "anthropic"`) Anthropic's Messages.
"""

from arbiter.offline.sim.config import Failures, ModelProfile, SimConfig, default_pool, load_config
from arbiter.offline.sim.runner import SimServer, run_sim, sim_running
from arbiter.offline.sim.server import build_app

__all__ = [
    "Failures",
    "ModelProfile",
    "SimConfig",
    "SimServer",
    "build_app",
    "default_pool",
    "load_config",
    "run_sim",
    "sim_running",
]
