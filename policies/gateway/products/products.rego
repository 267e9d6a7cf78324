# METADATA
# title: Aggregate and verification products
# description: >-
#   What an aggregate (group-by dimensions, measures, small-cell threshold k,
#   differential-privacy epsilon) or a verification (claimable fields, per-field
#   answers, calls per minute) may use, and the reasons a request for one is
#   refused. Defaults live in data.gateway_config; a grant's quota may raise k,
#   set epsilon and clamping bounds, allow per-field answers and set the rate.
package gateway.products

import data.gateway.grant

_config := data.gateway_config

# Fields a product may draw on: the grant's fields when a grant is required,
# else (unconditional-open aggregates) every declared field.
_candidates contains name if {
	grant.required
	some name in grant.granted_fields
	input.dataset.fields[name]
}

_candidates contains name if {
	not grant.required
	some name, _ in input.dataset.fields
}

# A field whose values point at one person or one household: never a group-by
# dimension, never a measure. Quasi-identifiers (region, gender, birth date) are
# not: the small-cell threshold is what protects them.
identifying(spec) if spec.pii in _config.direct_identifier_pii

identifying(spec) if spec.free_text == true

identifying(spec) if spec.level >= _config.direct_identifier_level

# The catalog protects the field with an operator that never shows its value as
# is or partly (pseudonymize, suppress, redact, or one the gateway lacks): its
# values are not shown as group labels either.
identifying(spec) if {
	is_string(spec.operator)
	not spec.operator in _config.dimension_operators
}

_numeric(spec) if object.get(spec, "type", null) in {"integer", "number"}

# --- aggregate -------------------------------------------------------------

# Allowed group-by dimensions.
dimensions := sort([name |
	some name in _candidates
	not identifying(input.dataset.fields[name])
])

# Fields allowed for sum/avg/min/max (count needs none).
measures := sort([name |
	some name in _candidates
	spec := input.dataset.fields[name]
	not identifying(spec)
	_numeric(spec)
])

# The small-cell threshold: the data default, raised (never lowered) by a grant.
k_min := k if {
	grant.required
	k := grant.quota("k_min")
	k > _config.k_min
} else := _config.k_min

# Laplace noise budget per request and over the grant's life; null = no noise.
epsilon := e if {
	grant.required
	e := grant.quota("epsilon_per_request")
} else := null

epsilon_total := e if {
	grant.required
	e := grant.quota("epsilon_total")
} else := null

# Clamping bounds [low, high] per measure field, from the grant's quota
# ("clamp_min.<field>", "clamp_max.<field>") or data.gateway_config.measure_bounds.
bounds[name] := _bounds(name) if {
	some name in measures
	_bounds(name)
}

_bounds(name) := [low, high] if {
	grant.required
	low := grant.quota(concat("", ["clamp_min.", name]))
	high := grant.quota(concat("", ["clamp_max.", name]))
	low < high
} else := b if {
	b := _config.measure_bounds[input.dataset.id][name]
}

# --- verify ----------------------------------------------------------------

# Fields a claim may name: the granted fields, except free text.
verify_fields := sort([name |
	some name in _candidates
	not input.dataset.fields[name].free_text == true
])

# Per-field answers: a grant quota of verify_per_field = 1 (or true), else data.
per_field := true if {
	grant.required
	input.grant.quota.verify_per_field in {1, true}
} else := _config.verify_per_field

verify_per_minute := n if {
	grant.required
	n := grant.quota("verify_per_minute")
	n >= 0
} else := _config.verify_per_minute

# --- reasons to refuse -----------------------------------------------------

problems contains msg if {
	input.action == "aggregate"
	some name in input.request.dimensions
	identifying(input.dataset.fields[name])
	msg := sprintf("dimension_not_allowed: field %q identifies a person and is never a group-by dimension", [name])
}

problems contains msg if {
	input.action == "aggregate"
	some measure in input.request.measures
	not measure.op in _config.measure_ops
	msg := sprintf("bad_measure: unknown measure %q; one of %v", [measure.op, _config.measure_ops])
}

problems contains msg if {
	input.action == "aggregate"
	some measure in input.request.measures
	measure.op in _config.measure_ops
	measure.op != "count"
	not is_string(measure.field)
	msg := sprintf("bad_measure: %s needs a field", [measure.op])
}

problems contains msg if {
	input.action == "aggregate"
	some measure in input.request.measures
	measure.op != "count"
	spec := input.dataset.fields[measure.field]
	_not_measurable(spec)
	msg := sprintf("measure_not_allowed: %s over field %q (numeric, non-identifying fields only)", [measure.op, measure.field])
}

problems contains msg if {
	input.action == "aggregate"
	epsilon != null
	some measure in input.request.measures
	measure.op in {"sum", "avg"}
	input.dataset.fields[measure.field]
	not bounds[measure.field]
	msg := sprintf("measure_not_bounded: noisy %s over %q needs clamping bounds from the grant or the data authority", [measure.op, measure.field])
}

problems contains msg if {
	input.action == "aggregate"
	epsilon != null
	some measure in input.request.measures
	measure.op in {"min", "max"}
	msg := sprintf("measure_not_private: %s cannot be released under differential privacy noise", [measure.op])
}

problems contains msg if {
	input.action == "aggregate"
	epsilon != null
	epsilon <= 0
	msg := sprintf("bad_epsilon: grant %q sets a non-positive epsilon", [input.grant.id])
}

problems contains "empty_claim: a verification names at least one field" if {
	input.action == "verify"
	count(object.get(input.request, "claim_fields", [])) == 0
}

problems contains msg if {
	input.action == "verify"
	some name in input.request.claim_fields
	input.dataset.fields[name].free_text == true
	msg := sprintf("verify_field_not_allowed: free-text field %q cannot be verified", [name])
}

_not_measurable(spec) if identifying(spec)

_not_measurable(spec) if not _numeric(spec)
