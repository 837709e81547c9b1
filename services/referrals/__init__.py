"""referrals: owns the referral and its life, and the only copy of the citizen's identity."""
