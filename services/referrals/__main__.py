"""`python -m referrals`: run the service on its configured port."""

from referrals.app import create_app
from referrals.config import Settings
from runtime.service import serve

settings = Settings()  # type: ignore[call-arg]  # read from the environment
serve(create_app(settings), settings)
