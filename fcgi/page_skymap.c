/* page_skymap.c - GET /skymap: the sky map of the user's stacks. The page is
 * a shell; static/skymap.js fetches GET /api/stacks and draws an Aitoff
 * projection on a <canvas> (RA/Dec grid, a dot per pointing with its count on
 * hover, drag a box to select), a timeline of the selection with a
 * time-window slider, and "download all" through /stacks/archive.tar. */
#include "handlers.h"
#include "html.h"
#include "pages.h"

int page_skymap(struct cs_req *req)
{
        struct cs_buf page = CS_BUF_INIT(CS_PAGE_MAX);

        cs_page_begin(&page, req, "Sky map", "skymap", "skymap.js");
        cs_html(&page,
                "<div class=\"head-row\"><h1>Sky map</h1><p class=\"muted\" id=\"sky-count\"></p></div>"
                "<section class=\"card skymap\">"
                "<div class=\"canvaswrap\"><canvas id=\"sky\" width=\"960\" height=\"480\" "
                "aria-label=\"Aitoff projection of the sky with a dot per pointing of your stacks\"></canvas>"
                "<div id=\"sky-tip\" class=\"tip\" hidden></div></div>"
                "<p class=\"muted small\">Drag a box to select a region; click a dot to select that "
                "pointing; click empty sky to clear. RA grows to the left, as on the sky.</p>"
                "</section>"
                "<section class=\"card\" id=\"selection\"><h2>Selection <span id=\"sel-count\" "
                "class=\"muted\"></span></h2>"
                "<canvas id=\"timeline\" width=\"960\" height=\"90\" aria-label=\"timeline of the selected stacks\">"
                "</canvas>"
                "<div class=\"window\"><label>From <input type=\"range\" id=\"t-from\" min=\"0\" max=\"1000\" "
                "value=\"0\"></label><label>To <input type=\"range\" id=\"t-to\" min=\"0\" max=\"1000\" "
                "value=\"1000\"></label><span id=\"t-label\" class=\"muted\"></span></div>"
                "<div class=\"actions\"><a class=\"button primary\" id=\"download-all\" href=\"#\" "
                "hidden>Download all (tar)</a></div>"
                "<ul class=\"sel-list\" id=\"sel-list\"></ul></section>");
        cs_page_end(&page);
        return cs_page_send(req, 200, &page);
}
