"""Drawing a box on a page image in the browser, as a person does with the mouse."""

from __future__ import annotations


def to_screen(page, sheet_selector: str, box: tuple[int, int, int, int], width: int):
    """Image pixel box (of an image `width` px wide) → screen points over the drawn page."""
    sheet = page.locator(sheet_selector)
    sheet.scroll_into_view_if_needed()
    bb = sheet.bounding_box()
    scale = bb["width"] / width
    x0, y0, x1, y1 = box
    return (bb["x"] + x0 * scale, bb["y"] + y0 * scale, bb["x"] + x1 * scale, bb["y"] + y1 * scale)


def draw(page, points) -> None:
    """Press, drag and let go from one corner to the other."""
    x0, y0, x1, y1 = points
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
