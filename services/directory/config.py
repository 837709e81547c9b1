from pydantic import Field
from pydantic_settings import SettingsConfigDict

from directory.domain import DEFAULT_WEIGHTS, Weights
from runtime.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DIRECTORY_")

    service_name: str = "directory"
    http_port: int = 8002
    seed_demo: bool = Field(
        default=False,
        description="Fill an empty directory with the Copenhagen demo communities at start.",
    )
    max_matches: int = Field(
        default=5,
        ge=1,
        description="How many fitting services a referral's match lists, best first: the "
        "candidates referrals offers it to, one after another.",
    )
    # How matching weighs each criterion (see `directory.domain.Weights`); 0 turns one off.
    weight_interest: float = Field(
        default=DEFAULT_WEIGHTS.interest, ge=0, description="Per shared interest."
    )
    weight_language: float = Field(
        default=DEFAULT_WEIGHTS.language,
        ge=0,
        description="For a shared language (always required).",
    )
    weight_distance: float = Field(
        default=DEFAULT_WEIGHTS.distance,
        ge=0,
        description="At the citizen's district centroid, falling to nothing at 10 km.",
    )
    weight_accessibility: float = Field(
        default=DEFAULT_WEIGHTS.accessibility,
        ge=0,
        description="For wheelchair access when the citizen needs it (then required).",
    )
    weight_time_of_day: float = Field(
        default=DEFAULT_WEIGHTS.time_of_day,
        ge=0,
        description="When it runs at a time of day the citizen prefers (or any suits).",
    )
    weight_free_places: float = Field(
        default=DEFAULT_WEIGHTS.free_places, ge=0, description="Times the share of places free."
    )
    weight_target_group: float = Field(
        default=DEFAULT_WEIGHTS.target_group,
        ge=0,
        description="Per target group of the service that is one of the citizen's needs.",
    )

    def weights(self) -> Weights:
        return Weights(
            interest=self.weight_interest,
            language=self.weight_language,
            distance=self.weight_distance,
            accessibility=self.weight_accessibility,
            time_of_day=self.weight_time_of_day,
            free_places=self.weight_free_places,
            target_group=self.weight_target_group,
        )
