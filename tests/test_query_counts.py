"""Do pages cost a fixed number of queries, however many places or items they show (no N+1)?"""

from __future__ import annotations

from tests.conftest import LIXIA, LIXIA_JIEFANGLU, QueryCounter, bearer, login


def queries_for(app, client, path: str, **kwargs) -> int:
    client.get(path, **kwargs)  # warm-up: first use compiles and caches statements
    with QueryCounter(app) as counter:
        response = client.get(path, **kwargs)
    assert response.status_code == 200, path
    return counter.count


def test_tree_costs_the_same_for_a_county_and_the_whole_city(app):
    """Does the tree page of the city admin (178 places) run as many queries as a county admin's (~12)?"""
    city, county = app.test_client(), app.test_client()
    login(city, "jn_admin")
    login(county, "lx_admin")
    city_queries = queries_for(app, city, "/tree")
    assert city_queries == queries_for(app, county, "/tree")
    assert city_queries <= 6  # staff, grants, places, 3 grouped counts


def test_items_api_costs_the_same_for_a_town_and_a_county(app):
    """Does the items API run a fixed number of queries whatever the length of the list?"""
    client = app.test_client()
    headers = bearer(app, "lx_admin")
    town = queries_for(app, client, f"/api/v1/tenants/{LIXIA_JIEFANGLU}/items", headers=headers)
    county = queries_for(app, client, f"/api/v1/tenants/{LIXIA}/items", headers=headers)
    assert town == county <= 5  # token, staff, grants, place, items joined with their catalogue rows


def test_place_page_with_staff_and_grants_is_bounded(app):
    """Does the county page with its staff, their roles, children and items stay within a fixed budget?"""
    client = app.test_client()
    login(client, "lx_admin")
    assert queries_for(app, client, f"/places/{LIXIA}") <= 13
