"""Words of the policy domain: lawful bases, purposes, agreement statuses and moves between them."""

# UK GDPR Article 6 bases open to public bodies, spelt as W3C DPV's legal-basis terms.
LAWFUL_BASES = ("consent", "public-task", "legal-obligation", "contract", "vital-interests")

# Purposes named after W3C DPV purpose concepts. Agreements may name others in the
# same PascalCase form; these are the ones the guide documents.
KNOWN_PURPOSES = (
    "ServiceProvision", "PublicSafety", "EmergencyResponse", "LegalCompliance",
    "ResearchAndDevelopment", "StatisticalAnalysis", "RecordManagement",
)

# What each purpose means, in words for the people who read summaries and reports.
PURPOSE_LABELS = {
    "ServiceProvision": "providing a service to the person",
    "PublicSafety": "public safety",
    "EmergencyResponse": "responding to emergencies",
    "LegalCompliance": "meeting a legal duty",
    "ResearchAndDevelopment": "research and development",
    "StatisticalAnalysis": "statistics",
    "RecordManagement": "managing records",
}


def purpose_label(name: str) -> str:
    """'ServiceProvision' -> 'providing a service to the person'; another DPV name in its own words."""
    if name in PURPOSE_LABELS:
        return PURPOSE_LABELS[name]
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
    return words or name


STATUSES = ("draft", "approved", "active", "suspended", "retired")

# Allowed moves (from -> to). "approved" is reached once every party named in the version approved it.
TRANSITIONS = {
    ("draft", "approved"),
    ("approved", "active"),
    ("active", "suspended"),
    ("suspended", "active"),
    ("draft", "retired"),
    ("approved", "retired"),
    ("active", "retired"),
    ("suspended", "retired"),
}

# Records the hub makes itself (notices to recipients); no org may publish them.
NOTICE_DATASET = "causeway.notice"
HUB_PUBLISHER = "causeway"

# The recipient an agreement names to publish a non-personal dataset openly: anyone, without
# a key. The hub operator's governance approves for it.
PUBLIC = "public"
