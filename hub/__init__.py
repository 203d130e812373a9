"""The Causeway hub: validates, stores, decides and delivers records."""
import warnings

# connexion imports starlette's test client at import time, and starlette then warns that it
# wants another HTTP client: noise on every command an operator runs. Set here, before any of
# the hub's modules imports connexion.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
