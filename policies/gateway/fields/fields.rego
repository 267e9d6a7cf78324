# METADATA
# title: Field operators
# description: >-
#   Which desensitization operator each requested, declared field gets: a grant
#   override (conditional data), else the catalog's operator, else scrub for
#   free text, else the default for its PII type, else keep.
package gateway.fields

import data.gateway.grant

# Operator and params for every requested field the dataset declares.
released[name] := _operator(spec, object.get(_overrides, name, null), data.gateway_config) if {
	some name in input.request.fields
	spec := input.dataset.fields[name]
}

# Grant overrides count for conditional-open data only.
default _overrides := {}

_overrides := input.grant.operators if {
	grant.required
	is_object(input.grant.operators)
}

# keep on a personal field (a PII type, or free text) is always emitted with
# {"explicit": true}: the gateway refuses keep on a personal field without it.
# A grant may name keep for any field; the catalog only for PII types listed in
# catalog_keep_allowed_pii (public enterprise USCCs). Other personal fields
# fall back to scrub (free text) or their PII type's default.
_operator(spec, override, config) := rule if {
	override.operator == "keep"
	_personal(spec)
	rule := {"operator": "keep", "params": object.union(_params(override), {"explicit": true})}
} else := {"operator": object.get(override, "operator", null), "params": _params(override)} if {
	override != null
} else := {"operator": "keep", "params": {"explicit": true}} if {
	spec.operator == "keep"
	spec.pii in config.catalog_keep_allowed_pii
	spec.free_text != true
} else := {"operator": spec.operator, "params": {}} if {
	is_string(spec.operator)
	not _personal_keep(spec)
} else := config.free_text_operator if {
	spec.free_text == true
} else := object.get(config.default_operators, spec.pii, config.unknown_pii_operator) if {
	is_string(spec.pii)
} else := config.non_pii_operator

_personal(spec) if is_string(spec.pii)

_personal(spec) if spec.free_text == true

_personal_keep(spec) if {
	_personal(spec)
	spec.operator == "keep"
}

default _params(_) := {}

_params(override) := override.params if override.params != null
