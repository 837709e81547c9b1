"""`python -m directory`: run the service on its configured port."""

from directory.app import create_app
from directory.config import Settings
from runtime.service import serve

settings = Settings()  # read from the environment
serve(create_app(settings), settings)
