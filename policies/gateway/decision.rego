# METADATA
# title: Gateway release decisions
# description: >-
#   Decides whether an operator's request may be released, and how each field is
#   desensitized. Contract: DESIGN.md, "Policy decision". Defaults (operators per
#   PII type, row caps, k) live in data.gateway_config (policies/data.json).
package gateway

import data.gateway.fields
import data.gateway.grant
import data.gateway.products
import data.gateway.request

# METADATA
# title: Release decision
# description: >-
#   The one document the gateway reads. Deny unless a branch below proves the
#   request is allowed; on deny every applicable reason is listed, sorted.
# entrypoint: true
default decision := {
	"allow": false,
	"reasons": ["no_decision: the policy reached no decision for this input"],
	"fields": {},
	"row_filter": [],
	"max_rows": 0,
	"modes": [],
	"k_min": null,
}

decision := object.union({
	"allow": true,
	"reasons": sort(_allow_reasons),
	"fields": fields.released,
	"row_filter": _row_filter,
	"max_rows": _max_rows,
	"modes": _modes,
	"k_min": _config.k_min,
}, _product_terms) if {
	count(_deny) == 0
	_release_permitted
}

decision := {
	"allow": false,
	"reasons": sort(_deny),
	"fields": {},
	"row_filter": [],
	"max_rows": 0,
	"modes": [],
	"k_min": _config.k_min,
} if {
	count(_deny) > 0
}

_config := data.gateway_config

# Positive proof of a release, independent of the deny reasons: a request that
# matches no branch here falls to the default (deny) even if no reason fired.
# Unconditional-open data: the modes in unconditional_modes without a grant.
# Everything else (conditional rows, aggregates of conditional or not-open data,
# every verification) only under a usable grant. Not-open rows never.
_release_permitted if {
	not grant.required
	input.dataset.open_class == "unconditional"
	input.action in _config.unconditional_modes
}

_release_permitted if {
	grant.required
	grant.usable
}

# What an aggregate or a verification may use (gateway.products); nothing for rows.
_product_terms := {
	"k_min": products.k_min,
	"epsilon": products.epsilon,
	"epsilon_total": products.epsilon_total,
	"dimensions": products.dimensions,
	"measures": products.measures,
	"bounds": products.bounds,
} if {
	input.action == "aggregate"
} else := {
	"verify_fields": products.verify_fields,
	"per_field": products.per_field,
	"verify_per_minute": products.verify_per_minute,
} if {
	input.action == "verify"
} else := {}

_deny contains msg if {
	not input.action in _config.supported_actions
	msg := sprintf("action_not_supported: action %q is not decided by this policy yet", [input.action])
}

_deny contains msg if {
	not _role_permitted
	roles := concat(", ", object.get(_config.action_roles, input.action, []))
	msg := sprintf("role_not_permitted: action %q needs one of the roles [%s]", [input.action, roles])
}

_deny contains msg if {
	some name in request.fields
	not input.dataset.fields[name]
	msg := sprintf("unknown_field: field %q is not declared in dataset %q", [name, input.dataset.id])
}

_deny contains msg if {
	not input.dataset.open_class in {"unconditional", "conditional", "not_open"}
	msg := sprintf("unknown_open_class: dataset %q has no known open class", [input.dataset.id])
}

_deny contains "not_open_rows: not-open data is never released as rows" if {
	input.action == "rows"
	input.dataset.open_class == "not_open"
}

_deny contains problem if {
	grant.required
	some problem in grant.problems
}

_deny contains problem if {
	some problem in products.problems
}

_deny contains msg if {
	some name, rule in fields.released
	not rule.operator in _config.known_operators
	msg := sprintf(
		"unknown_operator: field %q would get operator %q, which the gateway does not know",
		[name, rule.operator],
	)
}

_role_permitted if {
	some role in input.subject.roles
	role in _config.action_roles[input.action]
}

_allow_reasons contains sprintf("open_data: dataset %q is unconditionally open", [input.dataset.id]) if {
	input.dataset.open_class == "unconditional"
	not grant.required
}

_allow_reasons contains msg if {
	grant.required
	msg := sprintf(
		"granted: grant %q permits %s for purpose %q",
		[input.grant.id, input.action, input.request.purpose],
	)
}

default _row_filter := []

_row_filter := grant.row_filter if grant.required

_max_rows := grant.max_rows if grant.required else := _config.default_max_rows

_modes := grant.modes if grant.required else := _config.unconditional_modes
