# METADATA
# title: Fields a request touches
# description: >-
#   Every field name the request names, whatever the action: rows fields;
#   aggregate dimensions, measure fields and filter fields; verify claim fields.
#   The grant check and the unknown-field check read this one set, so every
#   release mode is narrowed to the grant the same way.
package gateway.request

fields contains name if {
	some name in input.request.fields
}

fields contains name if {
	input.action == "aggregate"
	some name in input.request.dimensions
}

fields contains measure.field if {
	input.action == "aggregate"
	some measure in input.request.measures
	is_string(measure.field)
}

fields contains filter.field if {
	input.action == "aggregate"
	some filter in input.request.filters
	is_string(filter.field)
}

fields contains name if {
	input.action == "verify"
	some name in input.request.claim_fields
}
