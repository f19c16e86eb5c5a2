"""The pure core: load and check rulesets, assess documents, score them.

Nothing here imports Flask or SQLAlchemy, so the API, the CLI and CI share it.
"""
from .assess import assess
from .model import Assessment, CriterionResult, Finding, Rule, RuleOutcome, Ruleset
from .ruleset import InvalidRuleset, RulesetProblem, load_ruleset, parse_ruleset

__all__ = ["Assessment", "CriterionResult", "Finding", "InvalidRuleset", "Rule", "RuleOutcome",
           "Ruleset", "RulesetProblem", "assess", "load_ruleset", "parse_ruleset"]
