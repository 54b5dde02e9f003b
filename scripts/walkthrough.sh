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

# 7. The customer raises a ticket; staff resolve it (both show up in the customer's history)
TICKET=$(curl -s -X POST $API/tickets -H "Authorization: Bearer $ME" -H 'Content-Type: application/json' \
  -d '{"subject": "Wrong pick-up time", "description": "The confirmation says 6:00, the agent said 7:00.",
       "priority": "high"}' | pick id)
curl -s -X POST $API/tickets/$TICKET/resolve -H "$AUTH"; echo

# 8. An opportunity for Youssef, won: a prospect who wins a deal becomes an active customer
DEAL=$(curl -s -X POST $API/opportunities -H "$AUTH" -H 'Content-Type: application/json' \
  -d "{\"customer_id\": \"$CUSTOMER\", \"title\": \"Group tour, 40 people\", \"amount\": \"18400.00\",
       \"currency\": \"MAD\", \"stage\": \"proposal\", \"expected_close_date\": \"2030-03-31\"}" | pick id)
curl -s -X PATCH $API/opportunities/$DEAL -H "$AUTH" -H 'Content-Type: application/json' -d '{"stage": "won"}'
echo
curl -s $API/customers/$CUSTOMER -H "$AUTH" | pick status

# 9. A product and a sale (amount = quantity x unit price, exact decimals)
PRODUCT=$(curl -s -X POST $API/products -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"sku": "DESERT-2D", "name": "Two-day desert tour", "price": "460.00", "currency": "MAD"}' | pick id)
curl -s -X POST $API/sales -H "$AUTH" -H 'Content-Type: application/json' \
  -d "{\"customer_id\": \"$CUSTOMER\", \"product_id\": \"$PRODUCT\", \"quantity\": 40}"
echo

# 10. Feedback with its sentiment, and the feedback statistics
curl -s -X POST $API/feedback -H "Authorization: Bearer $ME" -H 'Content-Type: application/json' \
  -d '{"rating": 4, "service_type": "transport", "comments": "Great driver, very friendly, but the bus was late."}'
echo
curl -s "$API/feedback/stats?days=30" -H "$AUTH"; echo

# 11. Everything about one customer at a glance
curl -s $API/customers/$CUSTOMER/summary -H "$AUTH"; echo
