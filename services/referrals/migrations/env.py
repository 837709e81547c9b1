from referrals.store import Base
from runtime.audit import audit_metadata
from runtime.migrations import run_env

run_env(Base.metadata, audit_metadata)
