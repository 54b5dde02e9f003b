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

# 12. Reports: the last 30 days in figures, and one chart saved to a file
curl -s "$API/reports/summary" -H "$AUTH"; echo
curl -s -o tickets-by-status.png "$API/reports/charts/tickets-by-status.png" -H "$AUTH"
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print(sys.argv[1], len(d), "bytes,", "PNG" if d[:8]==b"\x89PNG\r\n\x1a\n" else "not a PNG")' tickets-by-status.png
curl -s -o /dev/null -w 'rating-distribution.svg: %{http_code} %{content_type}\n' \
  "$API/reports/charts/rating-distribution.svg" -H "$AUTH"

# 13. E-mail Youssef (make run files mail in var/mail/new), open it as a mail client would, record his reply
EMAIL=$(curl -s -X POST $API/emails -H "$AUTH" -H 'Content-Type: application/json' \
  -d "{\"customer_id\": \"$CUSTOMER\", \"subject\": \"Your group tour\",
       \"body\": \"<p>Dear Youssef, the programme for your 40 guests is attached.</p>\"}")
echo "$EMAIL"
curl -s -o /dev/null -w 'pixel: %{http_code} %{content_type}\n' "$(echo "$EMAIL" | pick tracking_url)"
EMAIL_ID=$(echo "$EMAIL" | pick id)
curl -s -X POST $API/emails/$EMAIL_ID/responses -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"body": "Thank you, the programme looks perfect."}' > /dev/null
curl -s $API/emails/$EMAIL_ID/engagement -H "$AUTH"; echo
curl -s "$API/emails?customer_id=$CUSTOMER" -H "$AUTH" | pick open_rate
curl -s $API/emails/$EMAIL_ID -H "$AUTH" | pick status

# 14. Analytics need history: load demo data (300 customers with interactions and sales), then
#     segment customers on recency, frequency and spend, and forecast the next three months of sales
CRM_ENV=development MONGO_URI="mongodb://127.0.0.1:${CRM_DEV_MONGO_PORT:-27018}/?retryWrites=false&directConnection=true" \
  JWT_SECRET_KEY="$(cat var/jwt-secret)" .venv/bin/flask --app wsgi crm seed-demo --customers 300 > /dev/null
curl -s "$API/analytics/segmentation" -H "$AUTH" | python3 -c 'import json,sys
d=json.load(sys.stdin); print("k =", d["k"])
for c in d["clusters"]: print(c["size"], c["label"], c["centre"])'
curl -s "$API/analytics/sales-forecast?months=3" -H "$AUTH"; echo
# ... and save three clusters as segments (admin), each listing its members
curl -s -X POST $API/analytics/segmentation/apply -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"k": 3, "name_prefix": "RFM Nov: "}' | python3 -c 'import json,sys
for s in json.load(sys.stdin)["segments"]: print(s["customer_count"], s["name"])'

# 15. Amina forgot her password: the reset mail (read from var/mail/new) carries a one-time code
curl -s -o /dev/null -w '%{http_code}\n' -X POST $API/auth/password-reset -H 'Content-Type: application/json' \
  -d '{"email": "amina.tazi@example.com"}'
sleep 2
CODE=$(python3 -c 'import email,email.policy,glob,os,re
path=max(glob.glob("var/mail/new/*"), key=os.path.getmtime)
msg=email.message_from_binary_file(open(path,"rb"), policy=email.policy.default)
text=next(p for p in msg.walk() if p.get_content_type()=="text/plain").get_content()
print(re.search(r"^[A-Za-z0-9_-]{43}$", text, re.M).group(0))')
curl -s -o /dev/null -w '%{http_code}\n' -X POST $API/auth/password-reset/confirm \
  -H 'Content-Type: application/json' -d "{\"token\": \"$CODE\", \"new_password\": \"n3w-s3cret-pass\"}"
curl -s -o /dev/null -w '%{http_code}\n' "$API/customers" -H "Authorization: Bearer $ME"

# 16. Mobile extras: rate-limit headers, a safe retry with Idempotency-Key, tombstones, the audit log
curl -s -D - -o /dev/null "$API/customers" -H "$AUTH" | grep -i '^ratelimit'
for attempt in 1 2; do
  curl -s -D - -X POST $API/customers -H "$AUTH" -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: 6f1d2c3b-walkthrough' -d '{"first_name": "Salma", "email": "salma@example.com"}' \
    | grep -iE '^(location|idempotent-replayed):'
done
SALMA=$(curl -s "$API/customers?email=salma@example.com" -H "$AUTH" | pick items 0 id)
curl -s -X DELETE $API/customers/$SALMA -H "$AUTH" -o /dev/null
curl -s "$API/sync/deleted?since=$(date -u +%Y-%m-%d)" -H "$AUTH"; echo
curl -s "$API/audit?entity_id=$SALMA" -H "$AUTH"; echo
