"""Dataset audits: exact, near and transformed copies inside and across a task's splits.

`audit_task` finds them (cached per data checksum), `apply_audit_policy` applies the task card's
`audit_policy` when a run prepares its data, `harness.audit.report` words an audit for people.
The matcher is shared with the CPMID leakage check and `submit validate --check-images` (`harness.copies`).
"""

from harness.audit.policy import POLICIES, apply_audit_policy
from harness.audit.result import Audit, Group, Member
from harness.audit.store import audit_task, latest_audit

__all__ = ["POLICIES", "apply_audit_policy", "Audit", "Group", "Member",
           "audit_task", "latest_audit"]
