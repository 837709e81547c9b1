"""`python -m grants`: run the service on its configured port."""

from grants.app import create_app
from grants.config import Settings
from runtime.service import serve

settings = Settings()  # read from the environment
serve(create_app(settings), settings)
