// A modal confirmation (native <dialog>: focus is trapped, Escape cancels).

import { h } from "./dom.js";

export function confirmAction({ title, text, confirm, typeToConfirm }) {
  return new Promise((resolve) => {
    const inputId = "confirm-text";
    const input = typeToConfirm
      ? h("input", { id: inputId, type: "text", autocomplete: "off" })
      : null;
    const ok = h("button", { type: "submit", class: "danger", text: confirm, disabled: Boolean(typeToConfirm) });
    if (input) input.addEventListener("input", () => { ok.disabled = input.value !== typeToConfirm; });
    const cancel = h("button", { type: "button", text: "Cancel" });
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "dialog-title" },
      h("form", { method: "dialog" },
        h("h2", { id: "dialog-title", text: title }),
        h("p", { text }),
        input ? [h("label", { for: inputId, text: `Type ${typeToConfirm} to confirm` }), input] : null,
        h("div", { class: "actions" }, cancel, ok)));
    let answer = false;
    ok.addEventListener("click", () => { answer = true; });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    (input || cancel).focus();
  });
}
