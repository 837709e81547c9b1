"""FHIR R4 (R4B resources) for care systems: a referral arrives as a ServiceRequest and is
followed as a Task, after HL7 Gravity's SDOH Clinical Care referral workflow."""
