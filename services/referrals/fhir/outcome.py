"""OperationOutcome: how every FHIR error answers. An issue names the element (`expression`,
e.g. `ServiceRequest.status`) and says what is wrong in Brobygger's own words: never the
value sent, which may be a CPR number or a name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from referrals.fhir.codes import Resource


class IssueType(StrEnum):
    """The codes of FHIR's IssueType this service answers with."""

    INVALID = "invalid"
    STRUCTURE = "structure"
    REQUIRED = "required"
    VALUE = "value"
    BUSINESS_RULE = "business-rule"
    LOGIN = "login"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not-found"
    DELETED = "deleted"
    NOT_SUPPORTED = "not-supported"
    CONFLICT = "conflict"
    TOO_LONG = "too-long"
    THROTTLED = "throttled"
    TRANSIENT = "transient"
    EXCEPTION = "exception"
    PROCESSING = "processing"


@dataclass(frozen=True)
class Issue:
    code: IssueType
    diagnostics: str
    expression: str | None = None
    """The element, as a FHIRPath expression, e.g. `Patient.identifier`."""

    def resource(self) -> Resource:
        issue: Resource = {
            "severity": "error",
            "code": self.code.value,
            "diagnostics": self.diagnostics,
        }
        if self.expression is not None:
            issue["expression"] = [self.expression]
        return issue


class FhirError(Exception):
    """Raise to answer with an OperationOutcome of `issues` and `status`."""

    def __init__(self, status: int, *issues: Issue) -> None:
        super().__init__("; ".join(issue.diagnostics for issue in issues))
        self.status = status
        self.issues = issues


def operation_outcome(issues: Iterable[Issue]) -> Resource:
    return {"resourceType": "OperationOutcome", "issue": [i.resource() for i in issues]}


BY_STATUS: Mapping[int, IssueType] = {
    400: IssueType.INVALID,
    401: IssueType.LOGIN,
    403: IssueType.FORBIDDEN,
    404: IssueType.NOT_FOUND,
    405: IssueType.NOT_SUPPORTED,
    409: IssueType.CONFLICT,
    410: IssueType.DELETED,
    413: IssueType.TOO_LONG,
    415: IssueType.NOT_SUPPORTED,
    422: IssueType.INVALID,
    429: IssueType.THROTTLED,
    500: IssueType.EXCEPTION,
    503: IssueType.TRANSIENT,
}


def issues_of_problem(status: int, problem: Mapping[str, Any]) -> list[Issue]:
    """The issues an RFC 9457 problem (as every other route of the service answers) tells:
    its detail, and each field a 422 from validation names."""
    code = BY_STATUS.get(status, IssueType.PROCESSING)
    issues = [Issue(code, str(problem.get("detail") or problem.get("title") or status))]
    for error in problem.get("errors") or ():
        issues.append(Issue(code, f"{error.get('location')}: {error.get('message')}"))
    return issues
