package gateway.products_test

# Aggregate and verify decisions on a not-open dataset under a license, and on
# unconditional-open data without one. Each test patches only what it is about.

_fields := {
	"id": {"pii": null, "level": 1, "quasi_identifier": false, "operator": "keep", "free_text": false, "type": "integer"},
	"name": {"pii": "PERSON", "level": 3, "quasi_identifier": false, "operator": "mask", "free_text": false, "type": "string"},
	"id_card": {"pii": "ID_CARD", "level": 4, "quasi_identifier": false, "operator": "mask", "free_text": false, "type": "string"},
	"hh_no": {"pii": null, "level": 3, "quasi_identifier": false, "operator": "pseudonymize", "free_text": false, "type": "string"},
	"birth_date": {"pii": "DATE_OF_BIRTH", "level": 3, "quasi_identifier": true, "operator": "generalize", "free_text": false, "type": "date"},
	"region_code": {"pii": null, "level": 1, "quasi_identifier": true, "operator": "keep", "free_text": false, "type": "string"},
	"salary": {"pii": null, "level": 3, "quasi_identifier": false, "operator": "generalize", "free_text": false, "type": "number"},
	"note": {"pii": null, "level": 2, "quasi_identifier": false, "operator": null, "free_text": true, "type": "string"},
}

_grant := {
	"id": "g-agg",
	"kind": "license",
	"status": "active",
	"fields": ["id", "name", "id_card", "hh_no", "birth_date", "region_code", "salary", "note"],
	"purposes": ["labour_statistics"],
	"modes": ["aggregate", "verify"],
	"row_filter": [],
	"valid_from": "2026-01-01T00:00:00Z",
	"valid_to": "2027-01-01T00:00:00Z",
	"quota": {},
	"fee_mode": "free",
	"operators": {},
}

_aggregate := {
	"subject": {"operator_id": "op-1", "org_uscc": "91310110666007217T", "roles": ["operator"], "key_id": "k-1"},
	"action": "aggregate",
	"dataset": {"id": "shebao_jiaona", "open_class": "not_open", "owner": "市人社局", "fields": _fields},
	"request": {
		"dimensions": ["region_code", "birth_date"],
		"measures": [{"op": "count", "field": null}, {"op": "avg", "field": "salary"}],
		"filters": [{"field": "region_code", "op": "prefix"}],
		"purpose": "labour_statistics",
		"scenario": "",
	},
	"grant": _grant,
	"usage": {"rows_today": 0, "requests_this_minute": 0},
	"env": {"now": "2026-11-29T05:00:00Z", "client_ip": "127.0.0.1"},
}

_verify := json.patch(_aggregate, [
	{"op": "replace", "path": "/action", "value": "verify"},
	{"op": "replace", "path": "/request", "value": {"claim_fields": ["id_card", "name"], "purpose": "labour_statistics", "scenario": ""}},
])

_replace(doc, path, value) := json.patch(doc, [{"op": "replace", "path": path, "value": value}])

_codes(decision) := {code |
	some reason in decision.reasons
	code := split(reason, ":")[0]
}

test_success_not_open_aggregate_under_grant if {
	decision := data.gateway.decision with input as _aggregate
	decision.allow
	decision.modes == ["aggregate", "verify"]
	decision.k_min == data.gateway_config.k_min
	decision.epsilon == null
	decision.dimensions == ["birth_date", "id", "region_code", "salary"]
	decision.measures == ["id", "salary"]
	decision.fields == {}
}

test_fail_aggregate_mode_not_granted if {
	decision := data.gateway.decision with input as _replace(_aggregate, "/grant/modes", ["verify"])
	_codes(decision) == {"mode_not_granted"}
}

test_fail_aggregate_purpose_not_granted if {
	decision := data.gateway.decision with input as _replace(_aggregate, "/request/purpose", "marketing")
	_codes(decision) == {"purpose_not_granted"}
}

test_fail_aggregate_after_term if {
	decision := data.gateway.decision with input as _replace(_aggregate, "/env/now", "2027-03-01T00:00:00Z")
	_codes(decision) == {"grant_expired"}
}

test_fail_aggregate_not_open_without_grant if {
	decision := data.gateway.decision with input as _replace(_aggregate, "/grant", null)
	decision.reasons == ["no_grant: aggregate on not_open data needs an approved application or license"]
}

test_fail_direct_identifier_dimension if {
	decision := data.gateway.decision with input as _replace(_aggregate, "/request/dimensions", ["id_card", "hh_no", "region_code"])
	not decision.allow
	decision.reasons == [
		`dimension_not_allowed: field "hh_no" identifies a person and is never a group-by dimension`,
		`dimension_not_allowed: field "id_card" identifies a person and is never a group-by dimension`,
	]
}

test_fail_field_outside_grant_is_not_a_dimension if {
	decision := data.gateway.decision with input as _replace(_aggregate, "/grant/fields", ["salary"])
	_codes(decision) == {"field_not_granted"}
}

test_fail_measure_on_identifier_or_text if {
	decision := data.gateway.decision with input as _replace(_aggregate, "/request/measures", [{"op": "sum", "field": "region_code"}])
	decision.reasons == [`measure_not_allowed: sum over field "region_code" (numeric, non-identifying fields only)`]
}

test_success_grant_raises_k_never_lowers if {
	high := data.gateway.decision with input as _replace(_aggregate, "/grant/quota", {"k_min": 11})
	high.k_min == 11
	low := data.gateway.decision with input as _replace(_aggregate, "/grant/quota", {"k_min": 2})
	low.k_min == data.gateway_config.k_min
}

test_fail_noisy_avg_needs_bounds if {
	decision := data.gateway.decision with input as _replace(_aggregate, "/grant/quota", {"epsilon_per_request": 1})
	_codes(decision) == {"measure_not_bounded"}
}

test_success_noisy_avg_with_grant_bounds if {
	decision := data.gateway.decision with input as _replace(_aggregate, "/grant/quota", {
		"epsilon_per_request": 1, "epsilon_total": 4,
		"clamp_min.salary": 0, "clamp_max.salary": 40000,
	})
	decision.allow
	decision.epsilon == 1
	decision.epsilon_total == 4
	decision.bounds == {"salary": [0, 40000]}
}

test_success_bounds_from_data if {
	decision := data.gateway.decision with input as _replace(_aggregate, "/grant/quota", {"epsilon_per_request": 1})
		with data.gateway_config.measure_bounds as {"shebao_jiaona": {"salary": [0, 9000]}}
	decision.allow
	decision.bounds == {"salary": [0, 9000]}
}

test_fail_noisy_min if {
	decision := data.gateway.decision with input as json.patch(_aggregate, [
		{"op": "replace", "path": "/grant/quota", "value": {"epsilon_per_request": 1}},
		{"op": "replace", "path": "/request/measures", "value": [{"op": "max", "field": "salary"}]},
	])
	_codes(decision) == {"measure_not_private"}
}

test_success_unconditional_aggregate_without_grant if {
	decision := data.gateway.decision with input as json.patch(_aggregate, [
		{"op": "replace", "path": "/dataset/open_class", "value": "unconditional"},
		{"op": "replace", "path": "/grant", "value": null},
	])
	decision.allow
	decision.dimensions == ["birth_date", "id", "region_code", "salary"]
	decision.epsilon == null
}

test_success_verify_under_grant if {
	decision := data.gateway.decision with input as _verify
	decision.allow
	decision.verify_fields == ["birth_date", "hh_no", "id", "id_card", "name", "region_code", "salary"]
	decision.per_field == false
	decision.verify_per_minute == data.gateway_config.verify_per_minute
	not decision.dimensions
}

test_success_verify_per_field_from_grant if {
	decision := data.gateway.decision with input as _replace(_verify, "/grant/quota", {"verify_per_field": 1, "verify_per_minute": 3})
	decision.per_field == true
	decision.verify_per_minute == 3
}

test_fail_verify_needs_grant_even_on_open_data if {
	decision := data.gateway.decision with input as json.patch(_verify, [
		{"op": "replace", "path": "/dataset/open_class", "value": "unconditional"},
		{"op": "replace", "path": "/grant", "value": null},
	])
	decision.reasons == ["no_grant: verify on unconditional data needs an approved application or license"]
}

test_fail_verify_mode_not_granted if {
	decision := data.gateway.decision with input as _replace(_verify, "/grant/modes", ["aggregate"])
	_codes(decision) == {"mode_not_granted"}
}

test_fail_verify_claim_outside_grant_or_free_text if {
	decision := data.gateway.decision with input as json.patch(_verify, [
		{"op": "replace", "path": "/grant/fields", "value": ["name", "note"]},
		{"op": "replace", "path": "/request/claim_fields", "value": ["id_card", "note"]},
	])
	_codes(decision) == {"field_not_granted", "verify_field_not_allowed"}
}

test_fail_verify_empty_claim if {
	decision := data.gateway.decision with input as _replace(_verify, "/request/claim_fields", [])
	decision.reasons == ["empty_claim: a verification names at least one field"]
}
