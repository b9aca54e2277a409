"""Small forms over the current tab: claim, accept, decline, pledge, add a
recipe step, a variation or a story.

Each stays open until the node has done what it asks, so a refused request
(bad input, node gone) leaves everything typed in place.
"""

from __future__ import annotations


from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from ..answers import Answer, Args, MealRow, OfferRow, RecipeRow, SwapRow
from ..show import amount
from ..widgets.pane import OnPantryApp


class Dialog(OnPantryApp, ModalScreen):
    """A titled form: ``fields`` are (name, label, initial value, placeholder)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Done")]
    title_text = ""
    submit_text = "OK"

    def fields(self) -> list[tuple[str, str, str, str]]:
        return []

    def explain(self) -> str:
        return ""

    def compose(self):
        with Vertical(id="dialog", classes="form"):
            yield Static(self.title_text, classes="title", markup=False)
            text = self.explain()
            if text:
                yield Static(text, classes="explain", markup=False)
            for name, label, value, hint in self.fields():
                with Horizontal(classes="field"):
                    yield Label(label, classes="field-label")
                    yield Input(value=value, placeholder=hint, id=f"field-{name}")
            yield Static("", id="dialog-error", classes="field-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.submit_text}  ctrl+s", id="submit", variant="primary")
                yield Button("Cancel  esc", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        inputs = self.query(Input)
        if inputs:
            inputs.first().focus()

    def value(self, name: str) -> str:
        return self.query_one(f"#field-{name}", Input).value.strip()

    def whole_number(self, name: str) -> int | None:
        """The field as a whole number ≥ 1, or None after saying what is wrong."""
        text = self.value(name)
        if not text.isdigit() or int(text) < 1:
            self.complain(f"{name}: a whole number of at least 1")
            self.query_one(f"#field-{name}", Input).focus()
            return None
        return int(text)

    def complain(self, message: str) -> None:
        error = self.query_one("#dialog-error", Static)
        error.update(message)
        error.display = bool(message)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        if event.input is inputs[-1]:
            await self.action_submit()
        else:
            self.focus_next()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            await self.action_submit()
        else:
            self.action_cancel()

    async def action_submit(self) -> None:
        self.complain("")
        result = await self.submit()
        if result is not None:
            self.dismiss(result)

    async def submit(self) -> Answer | None:
        """Do the dialog's request; return its result, or None to stay open."""
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)


class ClaimDialog(Dialog):
    title_text = "Claim"
    submit_text = "Claim"

    def __init__(self, offer: OfferRow) -> None:
        super().__init__()
        self.offer = offer

    def explain(self) -> str:
        o = self.offer
        return (f"{o['item']} from {o.get('household_name') or '?'}: "
                f"{amount(o.get('remaining'), o.get('unit'))} left")

    def fields(self):
        return [("quantity", f"Quantity ({self.offer.get('unit') or ''})", "1", "how many"),
                ("message", "Message", "", "e.g. can collect after 6")]

    async def submit(self) -> Answer | None:
        quantity = self.whole_number("quantity")
        if quantity is None:
            return None
        args: Args = {"offer_ref": self.offer["id"], "quantity": quantity}
        if self.value("message"):
            args["message"] = self.value("message")
        return await self.app.act("claim_add", f"Claimed {quantity} {self.offer.get('unit')} {self.offer['item']}; "
                                  "the offerer decides (Swaps, 2).", **args)


class AcceptDialog(Dialog):
    title_text = "Accept claim"
    submit_text = "Accept"

    def __init__(self, claim: SwapRow, suggested: int | None = None) -> None:
        super().__init__()
        self.claim = claim
        self.suggested = suggested

    def explain(self) -> str:
        c = self.claim
        text = (f"{c.get('household_name')} asks for {amount(c['quantity'], c.get('unit'))} "
                f"of your {c.get('offer_item')}.")
        if self.suggested is not None and self.suggested != c["quantity"]:
            text += f"\nOversubscribed: the fair share for them is {self.suggested}."
        return text

    def fields(self):
        quantity = self.suggested if self.suggested is not None else self.claim["quantity"]
        return [("quantity", "Give", str(quantity), "how many"),
                ("pickup", "Pickup", "", "where and when (only they can read it)")]

    async def submit(self) -> Answer | None:
        quantity = self.whole_number("quantity")
        if quantity is None:
            return None
        args: Args = {"claim_ref": self.claim["id"], "quantity": quantity}
        if self.value("pickup"):
            args["pickup"] = self.value("pickup")
        return await self.app.act("claim_accept", f"Accepted: {quantity} {self.claim.get('unit')} "
                                  f"for {self.claim.get('household_name')}.", **args)


class DeclineDialog(Dialog):
    title_text = "Decline claim"
    submit_text = "Decline"

    def __init__(self, claim: SwapRow) -> None:
        super().__init__()
        self.claim = claim

    def explain(self) -> str:
        return f"{self.claim.get('household_name')} asked for {self.claim.get('offer_item')}."

    def fields(self):
        return [("reason", "Reason", "", "optional, e.g. all gone")]

    async def submit(self) -> Answer | None:
        args: Args = {"claim_ref": self.claim["id"]}
        if self.value("reason"):
            args["reason"] = self.value("reason")
        return await self.app.act("claim_decline", "Declined.", **args)


class PledgeDialog(Dialog):
    title_text = "Pledge to a meal"
    submit_text = "Pledge"

    def __init__(self, meal: MealRow) -> None:
        super().__init__()
        self.meal = meal

    def explain(self) -> str:
        return f"{self.meal['dish']} at {self.meal.get('place')}"

    def fields(self):
        missing = [n for n in self.meal.get("needs", []) if n.get("missing", 0) > 0]
        first = missing[0] if missing else {"item": "", "missing": 1, "unit": ""}
        return [("item", "Item", first["item"], "what you bring"),
                ("quantity", "Quantity", str(first["missing"]), "how many"),
                ("unit", "Unit", first["unit"], "kg, portion…"),
                ("note", "Note", "", "optional")]

    async def submit(self) -> Answer | None:
        if not self.value("item") or not self.value("unit"):
            self.complain("say what you bring and its unit")
            return None
        quantity = self.whole_number("quantity")
        if quantity is None:
            return None
        args: Args = {"meal_ref": self.meal["id"], "item": self.value("item"),
                                "quantity": quantity, "unit": self.value("unit")}
        if self.value("note"):
            args["note"] = self.value("note")
        return await self.app.act("meal_pledge", f"Pledged {quantity} {args['unit']} {args['item']}.", **args)


class StepDialog(Dialog):
    title_text = "Add a step"
    submit_text = "Add"

    def __init__(self, recipe: RecipeRow) -> None:
        super().__init__()
        self.recipe = recipe

    def explain(self) -> str:
        return f"{self.recipe['title']}: {len(self.recipe.get('steps', []))} steps so far"

    def fields(self):
        return [("text", "Step", "", "what to do"),
                ("after", "After step", str(len(self.recipe.get("steps", []))), "0 puts it first")]

    async def submit(self) -> Answer | None:
        text = self.value("text")
        if not text:
            self.complain("say what to do in this step")
            return None
        after_text = self.value("after") or "0"
        if not after_text.isdigit():
            self.complain("after step: a step number, 0 for first")
            return None
        return await self.app.act("recipe_edit", "Step added.", recipe_ref=self.recipe["id"],
                                  add_steps=[[int(after_text), text]])


class StoryDialog(Dialog):
    title_text = "Tell a story"
    submit_text = "Add story"

    def __init__(self, recipe: RecipeRow) -> None:
        super().__init__()
        self.recipe = recipe

    def explain(self) -> str:
        return f"A memory or a tip for {self.recipe['title']}"

    def fields(self):
        return [("title", "Title", "", "optional"), ("text", "Story", "", "the story")]

    async def submit(self) -> Answer | None:
        if not self.value("text"):
            self.complain("the story has no text yet")
            return None
        args: Args = {"recipe_ref": self.recipe["id"], "text": self.value("text")}
        if self.value("title"):
            args["title"] = self.value("title")
        return await self.app.act("recipe_story", "Story added.", **args)


class VariationDialog(Dialog):
    title_text = "Make a variation"
    submit_text = "Create"

    def __init__(self, recipe: RecipeRow) -> None:
        super().__init__()
        self.recipe = recipe

    def explain(self) -> str:
        return f"A new recipe adapted from {self.recipe['title']}; it starts with its ingredients and steps."

    def fields(self):
        return [("title", "Title", f"{self.recipe['title']} (my way)", "name of the variation"),
                ("change", "What changes", "", "optional: a first extra step")]

    async def submit(self) -> Answer | None:
        if not self.value("title"):
            self.complain("the variation needs a title")
            return None
        steps = [s["text"] for s in self.recipe.get("steps", [])]
        if self.value("change"):
            steps.append(self.value("change"))
        ingredients = [{k: v for k, v in line.items() if k != "position" and v is not None}
                       for line in self.recipe.get("ingredients", [])]
        return await self.app.act(
            "recipe_add", f"Created the variation {self.value('title')}.", title=self.value("title"),
            ingredients=ingredients, steps=steps, tags=self.recipe.get("tags", []),
            serves=self.recipe.get("serves"), adapted_from=self.recipe["id"],
        )
