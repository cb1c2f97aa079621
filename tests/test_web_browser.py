"""A member without a chat account answers in a real browser (Debian's Chromium, phone-sized), by
keyboard, by the link from a real mail; changes the answer; the closed link fails kindly; axe-core
finds no accessibility violations on either page."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from brug.app import barometer
from brug.app.jobs import post_reflection
from brug.settings import CoordinatorSettings
from brug.web.app import create_app, viewers_from
from tests.browser import accessibility_violations, browser, desktop_browser, save_page  # noqa: F401  (the session's browsers)
from tests.test_web_answer import PID, SLOT, round_id, world  # noqa: F401  (the same world: SMTP, links)
from tests.test_web_portfolio import portfolio  # noqa: F401  (signed-in coordinators)
from tests.test_web_portfolio_rows import portfolio_world  # noqa: F401  (rows in every state)
from tests.web_world import web_server

DOCS = Path(__file__).resolve().parents[1] / "docs"

pytestmark = pytest.mark.xdist_group("chromium")  # one worker starts the two browsers, not each worker


def active(driver):  # type: ignore[no-untyped-def]
    return driver.switch_to.active_element


def saved(driver) -> str:  # type: ignore[no-untyped-def]
    """Wait for the page after a save; its notice."""
    WebDriverWait(driver, 30).until(lambda d: "saved=1" in d.current_url, message=driver.page_source)
    return str(driver.find_element(By.CSS_SELECTOR, "[role=status]").text)


async def test_a_member_answers_by_keyboard_on_a_phone_changes_it_and_the_closed_link_fails_kindly(
    world, browser, tmp_path  # noqa: F811
) -> None:  # type: ignore[no-untyped-def]
    bot, clock, inbox, port = world
    rt = bot.rt
    p = bot.partnerships()[PID]
    key = await post_reflection(p, SLOT, rt)
    link = inbox.to("ann@example.org")[0].link
    question = next(q for q in rt.library.questions if q.id == key.rsplit("/", 1)[-1])
    field = f"score-{question.bouwsteen.value}"
    driver = browser
    with web_server(create_app(rt, bot.partnerships, rt.links), port):
        driver.get(link)
        assert driver.find_element(By.TAG_NAME, "h1").text == question.text("nl")
        assert driver.execute_script("return window.innerWidth") == 390  # a phone's width
        assert accessibility_violations(driver) == []

        # by keyboard only: Tab to the scale, arrow to 3, Tab to the text, type, Tab to the button, Enter
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)
        for _ in range(6):
            if active(driver).get_attribute("name") == field:
                break
            active(driver).send_keys(Keys.TAB)
        assert active(driver).get_attribute("id") == f"{field}-1"
        active(driver).send_keys(Keys.ARROW_RIGHT)
        active(driver).send_keys(Keys.ARROW_RIGHT)
        assert active(driver).get_attribute("id") == f"{field}-3" and active(driver).is_selected()
        active(driver).send_keys(Keys.TAB)
        assert active(driver).get_attribute("id") == "answer"
        active(driver).send_keys("We spraken af wie de uitnodiging stuurt.")
        active(driver).send_keys(Keys.TAB)
        assert active(driver).tag_name == "button"
        active(driver).send_keys(Keys.ENTER)

        assert "bewaard" in saved(driver)
        assert [(v[0], v[2]) for v in rt.store.open_votes(PID, round_id(rt))] == [("ann", 3)]
        assert [a.text for a in rt.store.answers(PID)] == ["We spraken af wie de uitnodiging stuurt."]
        shot = tmp_path / "web-answer.png"
        driver.save_screenshot(str(shot))
        if os.environ.get("BRUG_UPDATE_DOCS"):
            shutil.copyfile(shot, DOCS / "web-answer.png")

        # the same link later: the form shows the answer, and changing it replaces it
        driver.get(link)
        assert driver.find_element(By.ID, f"{field}-3").is_selected()
        driver.find_element(By.CSS_SELECTOR, f"label[for={field}-5]").click()
        text = driver.find_element(By.ID, "answer")
        text.clear()
        text.send_keys("Het loopt nu vlot.")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        assert "bewaard" in saved(driver)
        assert [(v[0], v[2]) for v in rt.store.open_votes(PID, round_id(rt))] == [("ann", 5)]
        assert [a.text for a in rt.store.answers(PID)] == ["Het loopt nu vlot."]

        # the round closes: the link gets a kind page, without the question or the answer
        await barometer.close_round(p, round_id(rt), rt)
        driver.get(link)
        assert driver.find_element(By.TAG_NAME, "h1").text == "Deze vraag is afgesloten"
        assert "Het loopt nu vlot." not in driver.page_source and question.text("nl") not in driver.page_source
        assert accessibility_violations(driver) == []


def test_a_coordinator_signs_in_by_mail_in_the_browser_and_another_organisation_is_refused(portfolio, browser) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    base, inbox, config, rt = portfolio
    driver = browser
    driver.delete_all_cookies()
    driver.get(f"{base}/portfolio")
    assert driver.current_url == f"{base}/login"  # not signed in: the sign-in page
    assert accessibility_violations(driver) == []
    driver.find_element(By.ID, "email").send_keys("coord@example.org" + Keys.ENTER)
    WebDriverWait(driver, 30).until(lambda d: "Kijk je mail na" in d.page_source)
    inbox.wait(1)
    link = inbox.received[-1].body.split()[[w.startswith(f"{base}/login/") for w in inbox.received[-1].body.split()].index(True)]
    driver.get(link)
    WebDriverWait(driver, 30).until(lambda d: d.current_url == f"{base}/portfolio")
    rows = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]")]
    assert sorted(rows) == ["Brede school Noord", "Samen tegen kinderarmoede"]
    assert accessibility_violations(driver) == []
    shot = DOCS / "web-portfolio.png" if os.environ.get("BRUG_UPDATE_DOCS") else None
    if shot is not None:
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(shot))
    driver.get(f"{base}/portfolio/andere-stad")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Deze link werkt niet"
    assert "Netwerk andere stad" not in driver.page_source


def test_a_coordinator_signs_in_with_nextcloud_in_the_browser_and_another_organisation_is_refused(
    tmp_path, library, browser  # noqa: F811
) -> None:  # type: ignore[no-untyped-def]
    from tests.nextcloud_server import NextcloudTestServer
    from tests.test_web_signin import nextcloud_world

    driver = browser
    with NextcloudTestServer() as nc:
        nc.add_user("ann", "ann-password", "Ann Peeters")
        with nextcloud_world(tmp_path, library, nc) as (base, inbox, config, rt):
            config["viewers"] = viewers_from(
                [CoordinatorSettings(organisation="gemeente", name="Gemeente Proef", viewers=["nextcloud:ann"])]
            )
            driver.delete_all_cookies()
            driver.get(f"{base}/portfolio")
            assert driver.current_url == f"{base}/login"
            assert accessibility_violations(driver) == []
            if os.environ.get("BRUG_UPDATE_DOCS"):
                driver.execute_script("window.scrollTo(0, 0)")
                driver.save_screenshot(str(DOCS / "web-login.png"))
            driver.find_element(By.LINK_TEXT, "Aanmelden met Nextcloud").click()
            WebDriverWait(driver, 30).until(lambda d: "Connect to your account" in d.page_source)
            assert driver.current_url.startswith(f"{nc.base_url}/index.php/login/flow")
            driver.find_element(By.ID, "login-flow-login").click()
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "password"))
            driver.find_element(By.ID, "user").send_keys("ann")
            driver.find_element(By.ID, "password").send_keys("ann-password" + Keys.ENTER)
            WebDriverWait(driver, 30).until(lambda d: "Grant access" in d.page_source)
            driver.find_element(By.ID, "submit-wrapper").click()
            WebDriverWait(driver, 30).until(lambda d: d.current_url == f"{base}/portfolio")
            rows = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]")]
            assert sorted(rows) == ["Brede school Noord", "Samen tegen kinderarmoede"]
            driver.get(f"{base}/portfolio/andere-stad")
            assert driver.find_element(By.TAG_NAME, "h1").text == "Deze link werkt niet"
            assert "Netwerk andere stad" not in driver.page_source
            assert inbox.received == []


def test_the_portfolio_shows_each_rows_radar_sorts_by_heading_and_filters_by_keyboard(  # noqa: F811
    portfolio_world, browser, desktop_browser  # noqa: F811
) -> None:  # type: ignore[no-untyped-def]
    """The small radars are drawn (the shared grid found, the right size) and have their text for
    screen readers; axe finds nothing at a desktop's and a phone's width; no sideways scrolling on the
    phone; a column heading sorts; the filters work by keyboard."""
    for driver in (desktop_browser, browser):
        driver.delete_all_cookies()
        driver.get(f"{portfolio_world.base}/healthz")
        driver.add_cookie({"name": "brug_session", "value": portfolio_world.session, "path": "/"})

    driver = desktop_browser
    driver.get(f"{portfolio_world.base}/portfolio?sort=name")
    radars = driver.find_elements(By.CSS_SELECTOR, "svg.mini-radar")
    assert len(radars) == 2  # Noord and Armoede; Klein's round had two respondents
    for radar in radars:
        assert radar.size == {"width": 112, "height": 112}
        grid = driver.execute_script("return arguments[0].querySelector('use').getBBox().width", radar)
        assert grid > 80  # the shared grid is found and drawn
    names = [e.get_attribute("textContent") for e in driver.find_elements(By.CSS_SELECTOR, "svg.mini-radar title")]
    assert names[1].startswith("Barometer 2026–2027, trimester 1: Gemeenschappelijk doel 1,8 ↓")
    table = driver.find_element(By.CSS_SELECTOR, "div.table")
    assert driver.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", table)  # it fits
    assert accessibility_violations(driver) == []
    if os.environ.get("BRUG_UPDATE_DOCS"):
        save_page(driver, DOCS / "web-portfolio-desktop.png", 1100)
    driver.find_element(By.CSS_SELECTOR, "details.legend summary").send_keys(Keys.ENTER)
    assert driver.find_element(By.CSS_SELECTOR, "details.legend p").is_displayed()

    driver.find_element(By.LINK_TEXT, "Barometer").click()  # the heading sorts: the lowest bouwsteen first
    WebDriverWait(driver, 30).until(lambda d: "sort=barometer" in d.current_url)
    rows = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]")]
    assert rows == ["Samen tegen armoede", "Brede school Noord", "Klein netwerk"]
    assert driver.find_element(By.CSS_SELECTOR, "th[aria-sort]").text.startswith("Barometer")

    # by keyboard: choose a phase, tick "needs attention", submit
    driver.find_element(By.ID, "phase").send_keys("Schep")  # typing picks "Schep een draagvlak"
    driver.find_element(By.ID, "attention").send_keys(Keys.SPACE)
    driver.find_element(By.CSS_SELECTOR, "form.filters button").send_keys(Keys.ENTER)
    WebDriverWait(driver, 30).until(lambda d: "phase=draagvlak" in d.current_url and "attention=1" in d.current_url)
    assert [th.text for th in driver.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]")] == ["Samen tegen armoede"]

    driver = browser
    driver.get(f"{portfolio_world.base}/portfolio?sort=name")
    radar = driver.find_elements(By.CSS_SELECTOR, "svg.mini-radar")[0]
    assert radar.is_displayed() and radar.size["width"] == 112
    table = driver.find_element(By.CSS_SELECTOR, "div.table")
    assert driver.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", table)  # cards fit
    assert accessibility_violations(driver) == []
    if os.environ.get("BRUG_UPDATE_DOCS"):
        save_page(driver, DOCS / "web-portfolio.png", 1500)
    driver.get(f"{portfolio_world.base}/portfolio/armoede")
    assert "te weinig antwoorden" in driver.find_element(By.CSS_SELECTOR, "table.blocks").text
    assert accessibility_violations(driver) == []
