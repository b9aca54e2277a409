"""The app's stylesheet (Textual CSS), kept in Python so it installs with the
package like any module. Layout for 80x24 and up; colours come from the
theme's variables so the light and dark themes both read."""

CSS = """
TabbedContent { height: 1fr; }
TabPane { padding: 0; }
Pane { height: 1fr; }

#board-filters { height: 3; }
#board-filters Input { width: 1fr; }
#offers { height: 1fr; }
#board-count { height: 1; color: $text-muted; padding: 0 1; }

#claims { height: 1fr; min-height: 5; }
#claim-detail { height: auto; max-height: 7; padding: 0 1; border-top: solid $primary; }

#meals-table { height: 1fr; min-height: 4; }
#meal-detail-box { height: 1fr; border-top: solid $primary; padding: 0 1; }

#recipe-list { width: 32; }
#recipes-table { height: 1fr; }
#recipe-detail-box { width: 1fr; padding: 0 1; border-left: solid $primary; }

#mesh-summary { height: auto; padding: 0 1; }
#peers { height: 1fr; }
#sync-log { height: auto; max-height: 4; color: $text-muted; padding: 0 1; }

#invite-help { padding: 0 1; height: auto; }
#invite-make { margin: 0 1; }
#invite-code { height: auto; max-height: 10; margin: 0 1; }
#invite-qr { padding: 1 1 0 1; width: auto; height: auto; }
InvitePane { overflow-y: auto; }
#invite-info { padding: 0 1; color: $text-muted; }

ModalScreen { align: center middle; }
HouseholdScreen { align: center middle; }
#dialog {
    width: 76; max-width: 100%; height: auto; max-height: 100%;
    border: thick $primary; background: $surface; padding: 0 1;
}
#dialog .title { text-style: bold; color: $text; height: 1; }
#dialog .explain { color: $text-muted; height: auto; }
#dialog .title { margin-bottom: 1; }
#form-fields { height: auto; max-height: 16; }
.field { height: 1; margin-bottom: 0; }
.field-label { width: 14; height: 1; color: $text; }
.field Input { width: 1fr; height: 1; border: none; padding: 0 1; background: $boost; }
.field Input:focus { background: $primary 30%; }
.field Input.-invalid { background: $error 25%; }
.field-error { color: $error; height: auto; display: none; padding-left: 14; }
#dialog-error { padding-left: 0; margin-top: 0; }
.buttons { height: 3; align-horizontal: right; }
.buttons Button { margin-left: 1; }
"""
