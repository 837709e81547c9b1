"""`python -m referrals`: run the service on its configured port."""

from referrals.app import create_app
from referrals.config import Settings
from runtime.service import serve

settings = Settings()  # read from the environment
serve(create_app(settings), settings)
