"""Dataset audits: exact and near copies inside and across a task's splits.

`audit_task` finds them (cached per data checksum), `apply_audit_policy` applies the task card's
`audit_policy` when a run prepares its data, `harness.audit.report` words an audit for people.
Hashing is shared with the CPMID leakage check (`harness.hashing`).
"""

from harness.audit.near import NearRule
from harness.audit.policy import POLICIES, apply_audit_policy
from harness.audit.result import Audit, Group, Member
from harness.audit.store import audit_task, latest_audit

__all__ = ["NearRule", "POLICIES", "apply_audit_policy", "Audit", "Group", "Member",
           "audit_task", "latest_audit"]
