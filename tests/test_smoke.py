"""Does the demo database serve the basic pages?"""

from tests.conftest import LIXIA, login


def test_guide_and_login_pages_render(client):
    assert client.get("/guide/").status_code == 200
    assert client.get("/login").status_code == 200


def test_county_admin_sees_own_county(client):
    login(client, "lx_admin")
    page = client.get(f"/places/{LIXIA}")
    assert page.status_code == 200
    assert "历下区" in page.get_data(as_text=True)
