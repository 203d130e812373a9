"""The alerts page's contact form, in-process through the console's own forms: an org's ops set
where its alerts go and opt in to the daily quality report; a new webhook's secret is shown once;
mistakes are named beside the form and change nothing."""
from __future__ import annotations

from support.console import add_staff, csrf_from, sign_in

from .conftest import ops


def test_ops_set_where_their_alerts_go_and_opt_in_to_the_quality_report(client, services, webhook_sink):
    add_staff(services, "omar", "edinburgh", "ops")
    assert sign_in(client, "omar").status_code == 302
    page = client.get("/console/alerts")
    assert page.status_code == 200 and 'id="no-contact"' in page.text

    refused = client.post("/console/alerts/contact", data={
        "csrf_token": csrf_from(page.text), "email": "", "webhook_url": "", "quality_report": "yes"})
    assert refused.status_code == 400
    assert "email, webhook_url: give an e-mail address" in refused.text
    assert 'value="yes" id="quality_report" checked' in refused.text  # what was typed is kept

    url = f"http://127.0.0.1:{webhook_sink.port}/alerts/edinburgh"
    saved = client.post("/console/alerts/contact", data={
        "csrf_token": csrf_from(refused.text), "email": "ops@edinburgh.example", "webhook_url": url,
        "quality_report": "yes"})
    assert saved.status_code == 200 and 'id="new-secret"' in saved.text and "whsec_" in saved.text
    contact = services.alerts.get_contact(ops("edinburgh"), "edinburgh")
    assert contact == {**contact, "email": "ops@edinburgh.example", "webhook_url": url, "quality_report": True}
    assert "whsec_" not in client.get("/console/alerts").text  # shown once


def test_the_contact_form_needs_a_csrf_token(client, services):
    add_staff(services, "omar", "edinburgh", "ops")
    sign_in(client, "omar")
    refused = client.post("/console/alerts/contact", data={"email": "ops@edinburgh.example"})
    assert refused.status_code == 403
