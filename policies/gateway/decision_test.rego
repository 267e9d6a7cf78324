package gateway_test

# Inputs are built from one conditional and one unconditional request; each test
# changes only what it is about with json.patch.

_fields := {
	"name": {"pii": "PERSON", "level": 3, "quasi_identifier": false, "operator": "mask", "free_text": false},
	"id_no": {"pii": "ID_CARD", "level": 4, "quasi_identifier": false, "operator": null, "free_text": false},
	"gender": {"pii": null, "level": 1, "quasi_identifier": true, "operator": null, "free_text": false},
	"note": {"pii": null, "level": 2, "quasi_identifier": false, "operator": null, "free_text": true},
	"region_code": {"pii": null, "level": 1, "quasi_identifier": true, "operator": null, "free_text": false},
}

_grant := {
	"id": "g-1",
	"kind": "license",
	"status": "active",
	"fields": ["name", "gender", "region_code"],
	"purposes": ["research"],
	"modes": ["rows"],
	"row_filter": [{"field": "region_code", "op": "in", "value": ["360102"]}],
	"valid_from": "2026-01-01T00:00:00Z",
	"valid_to": "2027-01-01T00:00:00Z",
	"quota": {"max_rows_per_request": 500},
	"fee_mode": "free",
	"operators": {},
}

_conditional := {
	"subject": {"operator_id": "op-1", "org_uscc": "91310110666007217T", "roles": ["operator"], "key_id": "k-1"},
	"action": "rows",
	"dataset": {"id": "huji_renkou", "open_class": "conditional", "owner": "市公安局", "fields": _fields},
	"request": {
		"fields": ["name", "gender"],
		"filters": [],
		"purpose": "research",
		"scenario": "",
		"limit": 100,
	},
	"grant": _grant,
	"usage": {"rows_today": 0, "requests_this_minute": 0},
	"env": {"now": "2026-11-29T05:00:00Z", "client_ip": "127.0.0.1"},
}

_unconditional := json.patch(_conditional, [
	{"op": "replace", "path": "/dataset/open_class", "value": "unconditional"},
	{"op": "replace", "path": "/grant", "value": null},
	{"op": "replace", "path": "/subject/operator_id", "value": "op-anyone"},
	{"op": "replace", "path": "/request/fields", "value": ["name", "id_no", "gender", "note"]},
])

_replace(doc, path, value) := json.patch(doc, [{"op": "replace", "path": path, "value": value}])

_append(doc, path, value) := json.patch(doc, [{
	"op": "add",
	"path": sprintf("%s/-", [path]),
	"value": value,
}])

_reason_codes(decision) := {code |
	some reason in decision.reasons
	code := split(reason, ":")[0]
}

test_success_unconditional_any_operator_pii_masked if {
	decision := data.gateway.decision with input as _unconditional
	decision.allow
	decision.fields == {
		"name": {"operator": "mask", "params": {}},
		"id_no": {"operator": "mask", "params": {}},
		"gender": {"operator": "keep", "params": {}},
		"note": {"operator": "scrub", "params": {}},
	}
	decision.modes == data.gateway_config.unconditional_modes
	decision.row_filter == []
	decision.max_rows == data.gateway_config.default_max_rows
	decision.k_min == data.gateway_config.k_min
}

test_success_default_operator_comes_from_data if {
	decision := data.gateway.decision with input as _unconditional
		with data.gateway_config.default_operators.ID_CARD as {"operator": "suppress", "params": {}}
	decision.fields.id_no == {"operator": "suppress", "params": {}}
}

test_fail_conditional_without_grant if {
	decision := data.gateway.decision with input as object.union(_conditional, {"grant": null})
	not decision.allow
	_reason_codes(decision) == {"no_grant"}
	decision.fields == {}
}

test_success_conditional_granted_fields_and_purpose if {
	decision := data.gateway.decision with input as _conditional
	decision.allow
	decision.fields == {"name": {"operator": "mask", "params": {}}, "gender": {"operator": "keep", "params": {}}}
	decision.max_rows == 500
	decision.modes == ["rows"]
}

test_fail_field_not_granted if {
	decision := data.gateway.decision with input as _append(_conditional, "/request/fields", "id_no")
	not decision.allow
	decision.reasons == [`field_not_granted: grant "g-1" does not cover field "id_no"`]
}

test_fail_expired_after_valid_to if {
	decision := data.gateway.decision with input as _replace(_conditional, "/env/now", "2027-01-01T00:00:00Z")
	not decision.allow
	_reason_codes(decision) == {"grant_expired"}
}

test_fail_not_yet_valid if {
	decision := data.gateway.decision with input as _replace(_conditional, "/env/now", "2025-12-31T23:59:59Z")
	_reason_codes(decision) == {"grant_not_yet_valid"}
}

test_fail_suspended if {
	decision := data.gateway.decision with input as _replace(_conditional, "/grant/status", "suspended")
	not decision.allow
	_reason_codes(decision) == {"grant_suspended"}
}

test_fail_not_open_never_rows if {
	decision := data.gateway.decision with input as _replace(_conditional, "/dataset/open_class", "not_open")
	not decision.allow
	decision.reasons == ["not_open_rows: not-open data is never released as rows"]
}

test_fail_undeclared_field_never_released if {
	decision := data.gateway.decision with input as _append(_unconditional, "/request/fields", "secret")
	not decision.allow
	decision.reasons == [`unknown_field: field "secret" is not declared in dataset "huji_renkou"`]
	decision.fields == {}
}

test_fail_purpose_outside_grant if {
	decision := data.gateway.decision with input as _replace(_conditional, "/request/purpose", "marketing")
	not decision.allow
	_reason_codes(decision) == {"purpose_not_granted"}
}

test_fail_role_not_permitted if {
	decision := data.gateway.decision with input as _replace(_unconditional, "/subject/roles", ["auditor"])
	not decision.allow
	_reason_codes(decision) == {"role_not_permitted"}
}

test_success_grant_row_filter_applied if {
	decision := data.gateway.decision with input as _conditional
	decision.row_filter == [{"field": "region_code", "op": "in", "value": ["360102"]}]
}

test_success_keep_override_explicit if {
	decision := data.gateway.decision with input as _replace(_conditional, "/grant/operators", {
		"name": {"operator": "keep", "params": {}},
		"gender": {"operator": "generalize", "params": {"levels": 1}},
	})
	decision.allow
	decision.fields.name == {"operator": "keep", "params": {"explicit": true}}
	decision.fields.gender == {"operator": "generalize", "params": {"levels": 1}}
}

test_fail_all_reasons_collected_sorted if {
	decision := data.gateway.decision with input as json.patch(_conditional, [
		{"op": "replace", "path": "/grant/status", "value": "revoked"},
		{"op": "replace", "path": "/request/purpose", "value": "marketing"},
		{"op": "add", "path": "/request/fields/-", "value": "secret"},
	])
	not decision.allow
	_reason_codes(decision) == {"grant_revoked", "purpose_not_granted", "unknown_field"}
	decision.reasons == sort(decision.reasons)
}

test_fail_empty_input_gets_safe_default if {
	decision := data.gateway.decision with input as {}
	not decision.allow
	decision.reasons == ["no_decision: the policy reached no decision for this input"]
}
