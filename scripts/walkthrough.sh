#!/usr/bin/env bash
# The README walkthrough, runnable as is against `make run` (tests/unit/test_readme.py keeps the two in step).
set -euo pipefail
API=http://127.0.0.1:${PORT:-8000}/api/v1
# pick KEY... : read one value out of the JSON on stdin
pick() { python3 -c 'import json,sys
d=json.load(sys.stdin)
for k in sys.argv[1:]: d=d[int(k)] if isinstance(d,list) else d[k]
print(d)' "$@"; }

# 1. A customer registers (this always creates a `customer` user and its customer record)
curl -s -X POST $API/auth/register -H 'Content-Type: application/json' \
  -d '{"username": "amina", "email": "Amina.Tazi@example.com", "password": "s3cret-pass",
       "first_name": "Amina", "last_name": "Tazi", "phone": "0612345678"}'
echo

# 2. Staff log in: the dev admin's password is in var/admin-password (username or email both work)
ADMIN=$(curl -s -X POST $API/auth/login -H 'Content-Type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"$(cat var/admin-password)\"}" | pick access_token)
AUTH="Authorization: Bearer $ADMIN"

# 3. Create a company and a customer who works there
COMPANY=$(curl -s -X POST $API/companies -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"name": "Atlas Travel", "domain": "atlas-travel.example", "industry": "tourism", "size": "11-50"}' \
  | pick id)
CUSTOMER=$(curl -s -X POST $API/customers -H "$AUTH" -H 'Content-Type: application/json' \
  -d "{\"first_name\": \"Youssef\", \"last_name\": \"Benali\", \"email\": \"youssef@atlas-travel.example\",
       \"phone\": \"+212 661 234 567\", \"company_id\": \"$COMPANY\", \"status\": \"prospect\",
       \"tags\": [\"b2b\", \"vip\"]}" | pick id)

# 4. Log interactions: a call with a follow-up, and a meeting next week
curl -s -X POST $API/customers/$CUSTOMER/interactions -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"type": "phone", "subject": "Group tour quote", "notes": "Wants a quote for 40 people in May.",
       "follow_up_required": true, "follow_up_date": "2030-01-15"}'
echo
curl -s -X POST $API/customers/$CUSTOMER/meetings -H "$AUTH" -H 'Content-Type: application/json' \
  -d "{\"scheduled_at\": \"$(python3 -c 'import datetime as d; print((d.datetime.now(d.timezone.utc) + d.timedelta(days=7)).strftime("%Y-%m-%dT10:00:00Z"))')\", \"subject\": \"Quote review\",
       \"location\": \"Casablanca office\"}"
echo

# 5. List and search
curl -s "$API/customers?status=prospect&tags=vip&sort=-created_at" -H "$AUTH"; echo
curl -s "$API/customers/search?query=youss&company=atlas" -H "$AUTH"; echo
curl -s "$API/customers/$CUSTOMER/interactions" -H "$AUTH"; echo
curl -s "$API/interactions/upcoming" -H "$AUTH"; echo
curl -s "$API/interactions/follow-ups" -H "$AUTH"; echo

# 6. The customer logs in and sees only its own record
ME=$(curl -s -X POST $API/auth/login -H 'Content-Type: application/json' \
  -d '{"username": "amina.tazi@example.com", "password": "s3cret-pass"}' | pick access_token)
curl -s "$API/customers" -H "Authorization: Bearer $ME"; echo
curl -s -o /dev/null -w '%{http_code}\n' "$API/customers/$CUSTOMER" -H "Authorization: Bearer $ME"
