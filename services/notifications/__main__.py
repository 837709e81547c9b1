"""`python -m notifications`: run the service on its configured port."""

from notifications.app import create_app
from notifications.config import Settings
from runtime.service import serve

settings = Settings()  # read from the environment
serve(create_app(settings), settings)
