/* A live counter under each reply text: characters and SMS as the phone receives them, the merchant's
   signature included, by the gateway's own rule (sms_gateway/encoding.py): GSM-7 when every character
   fits, else UCS-2; one SMS holds 160 / 70, a part of a longer one 153 / 67, and an escaped GSM-7
   character or a surrogate pair is never split. The server refuses a text over the limit all the same. */
(function () {
  "use strict";
  var GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM_EXTENDED = "\f^{}\\[~]|€";

  function shape(text) {
    var chars = Array.from(text);
    var gsm = chars.every(function (ch) { return GSM_BASIC.includes(ch) || GSM_EXTENDED.includes(ch); });
    var costs = chars.map(function (ch) { return gsm ? (GSM_EXTENDED.includes(ch) ? 2 : 1) : ch.length; });
    var total = costs.reduce(function (sum, cost) { return sum + cost; }, 0);
    if (total <= (gsm ? 160 : 70)) {
      return { chars: total, parts: 1 };
    }
    var perPart = gsm ? 153 : 67, parts = 1, used = 0;
    costs.forEach(function (cost) {
      if (used + cost > perPart) { parts += 1; used = 0; }
      used += cost;
    });
    return { chars: total, parts: parts };
  }

  function attach(textarea) {
    var counter = document.createElement("small");
    counter.className = "sms-counter";
    counter.setAttribute("aria-live", "polite");
    textarea.insertAdjacentElement("afterend", counter);
    var most = Number(textarea.dataset.smsMost);
    function update() {
      // an empty box sends its default text (the placeholder)
      var counted = shape(textarea.dataset.smsSignature + (textarea.value || textarea.placeholder || ""));
      counter.textContent = textarea.dataset.smsCounter.replace("{chars}", counted.chars)
        .replace("{parts}", counted.parts).replace("{most}", most);
      counter.classList.toggle("over", counted.parts > most);
    }
    textarea.addEventListener("input", update);
    update();
  }

  window.mcrmSmsShape = shape;  // the campaign composer counts its filled-in text by the same rule
  document.querySelectorAll("textarea[data-sms-counter]").forEach(attach);
})();
