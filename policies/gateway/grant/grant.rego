# METADATA
# title: Grant checks for applications and licenses
# description: >-
#   A request that needs a grant is served only under the operator's one grant
#   for the dataset (application approval or license): active, in term, covering
#   the mode, the purpose and every field the request touches. A package of its
#   own, so that each module compiles alone when pushed to an OPA server one by one.
package gateway.grant

import data.gateway.request

# The request needs a grant: rows from a conditional-open dataset; aggregates of
# conditional-open or not-open data; every verification (it confirms values that
# rows mode masks, and its rate limit is the grant's).
required if {
	input.action == "rows"
	input.dataset.open_class == "conditional"
}

required if {
	input.action == "aggregate"
	input.dataset.open_class in {"conditional", "not_open"}
}

required if input.action == "verify"

# Every reason the request cannot be served under input.grant (when required).
problems contains _no_grant if not _grant

_no_grant := "no_grant: conditional-open data needs an approved application or license" if {
	input.action == "rows"
} else := sprintf(
	"no_grant: %s on %s data needs an approved application or license",
	[input.action, object.get(input.dataset, "open_class", "?")],
)

problems contains sprintf("grant_%s: grant %q is %s", [status, _id, status]) if {
	status := object.get(_grant, "status", "unknown")
	status != "active"
}

# The gateway passes the one grant for this operator and dataset; a grant that
# names another (a lookup bug) is refused, not trusted.
problems contains sprintf("grant_not_for_dataset: grant %q is for another dataset", [_id]) if {
	object.get(_grant, "dataset_id", input.dataset.id) != input.dataset.id
}

problems contains sprintf("grant_not_for_operator: grant %q is for another operator", [_id]) if {
	object.get(_grant, "operator_id", input.subject.operator_id) != input.subject.operator_id
}

problems contains sprintf("grant_term_unknown: the term of grant %q cannot be checked", [_id]) if {
	not _term_known
}

problems contains sprintf("grant_not_yet_valid: grant %q is valid from %s", [_id, _grant.valid_from]) if {
	_now_ns < _valid_from_ns
}

problems contains sprintf("grant_expired: grant %q expired at %s", [_id, _grant.valid_to]) if {
	_now_ns >= _valid_to_ns
}

problems contains sprintf("mode_not_granted: grant %q does not permit mode %q", [_id, input.action]) if {
	not input.action in modes
}

problems contains sprintf("purpose_not_granted: grant %q does not cover purpose %q", [_id, purpose]) if {
	purpose := object.get(input, ["request", "purpose"], "")
	not purpose in _granted_purposes
}

# Undeclared fields are reported as unknown_field by the decision, not here.
problems contains sprintf("field_not_granted: grant %q does not cover field %q", [_id, name]) if {
	some name in request.fields
	input.dataset.fields[name]
	not name in _granted_fields
}

# Positive proof that the grant covers the request; problems only explain a deny.
usable if {
	_grant.status == "active"
	object.get(_grant, "dataset_id", input.dataset.id) == input.dataset.id
	object.get(_grant, "operator_id", input.subject.operator_id) == input.subject.operator_id
	_term_known
	_now_ns >= _valid_from_ns
	_now_ns < _valid_to_ns
	input.action in modes
	input.request.purpose in _granted_purposes
	every name in request.fields {
		name in _granted_fields
	}
}

default row_filter := []

row_filter := _grant.row_filter if _grant.row_filter != null

max_rows := _grant.quota.max_rows_per_request if {
	_grant.quota.max_rows_per_request != null
} else := data.gateway_config.default_max_rows

# The grant, if input has one (null otherwise): every check above reads this.
_grant := input.grant if is_object(input.grant)

_id := object.get(_grant, "id", "?")

# The modes the grant permits (the decision's modes when it allows).
default modes := []

modes := _grant.modes if is_array(_grant.modes)

default _granted_purposes := []

_granted_purposes := _grant.purposes if is_array(_grant.purposes)

default _granted_fields := []

_granted_fields := _grant.fields if is_array(_grant.fields)

# The fields the grant covers (empty without a grant).
granted_fields := _granted_fields

# A grant quota entry, when the grant has one with a number value.
quota(name) := value if {
	value := _grant.quota[name]
	is_number(value)
}

_now_ns := time.parse_rfc3339_ns(input.env.now)

_valid_from_ns := time.parse_rfc3339_ns(_grant.valid_from)

_valid_to_ns := time.parse_rfc3339_ns(_grant.valid_to)

_term_known if {
	_now_ns
	_valid_from_ns
	_valid_to_ns
}
