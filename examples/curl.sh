#!/usr/bin/env bash
# The gateway from the shell: an administrator creates a workflow; a new user
# registers, logs in, creates a group, uploads a file, lists the groups,
# downloads the file. Needs curl and python3.
#
#   examples/curl.sh [GATEWAY_URL]        (default http://127.0.0.1:8000)
#
# The administrator is ADMIN_USER / ADMIN_PASSWORD (default admin / "an admin
# password"): on a fresh local store (scripts/serve) the first user registered
# is one; elsewhere start the gateway with GROUPSTORE_ADMINS=admin.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
url=${1:-${GATEWAY_URL:-http://127.0.0.1:8000}}
user=alice-$RANDOM$RANDOM
token=

# gql DOCUMENT VARIABLES_JSON: POST a document from examples/graphql; prints the response.
gql() {
	local body
	body=$(python3 -c 'import json,sys; print(json.dumps({"query": open(sys.argv[1]).read(), "variables": json.loads(sys.argv[2])}))' \
		"$here/graphql/$1.graphql" "$2")
	curl -sS --fail-with-body "$url/graphql" -H 'content-type: application/json' \
		${token:+-H "authorization: Bearer $token"} -d "$body"
}
# field PATH: one value out of the JSON response on stdin (errors stop the script).
field() {
	python3 -c 'import json,sys
r = json.load(sys.stdin)
if r.get("errors"): sys.exit("error: " + json.dumps(r["errors"]))
v = r["data"]
for k in sys.argv[1].split("."): v = v[int(k)] if k.isdigit() else v[k]
print(v)' "$1"
}

admin=${ADMIN_USER:-admin}
admin_password=${ADMIN_PASSWORD:-an admin password}
admin_login="{\"username\": \"$admin\", \"password\": \"$admin_password\"}"
gql register "$admin_login" >/dev/null || true # registered already: DUPLICATE_USER
token=$(gql login "$admin_login" | field login.token)
workflow_id=$(gql create_workflow "{\"name\": \"wf-$user\", \"spec\": {\"steps\": []}}" | field createWorkflow.id)

token=
user_id=$(gql register "{\"username\": \"$user\", \"password\": \"a long password\"}" | field registerUser.id)
token=$(gql login "{\"username\": \"$user\", \"password\": \"a long password\"}" | field login.token)
group_id=$(gql create_group "{\"workflowId\": \"$workflow_id\", \"name\": \"team-a\"}" | field createGroup.id)

# Upload: the GraphQL multipart request spec (operations + map + the file part).
printf 'name,score\nalice,3\n' >"${TMPDIR:-/tmp}/results-$user.csv"
operations=$(python3 -c 'import json,sys; print(json.dumps({"query": open(sys.argv[1]).read(), "variables": {"groupId": sys.argv[2], "file": None}}))' \
	"$here/graphql/upload_file.graphql" "$group_id")
download_url=$(curl -sS --fail-with-body "$url/graphql" -H "authorization: Bearer $token" \
	-H 'graphql-require-preflight: 1' -F "operations=$operations" -F 'map={"0": ["variables.file"]}' \
	-F "0=@${TMPDIR:-/tmp}/results-$user.csv;filename=results.csv" | field uploadFile.downloadUrl)
rm -f "${TMPDIR:-/tmp}/results-$user.csv"

groups=$(gql my_groups "{\"userId\": \"$user_id\"}" | field groups.nodes.0.name)
content=$(curl -sS --fail "$download_url" -H "authorization: Bearer $token") # an absolute URL
echo "groups: $groups"
echo "file: ${content%%$'\n'*}"
