/* Scanning a declaration's QR code with the device's camera (the officer's checkpoint screen).
   The browser's BarcodeDetector where it has one, else jsQR (vendored, Apache-2.0). What is
   read goes into the search field and the form is sent, as a USB scanner would. Browsers give
   the camera only to secure pages: HTTPS, or localhost. */
(function () {
  "use strict";
  var JSQR = "/static/vendor/jsQR-1.4.0.js";
  var jsqrLoading = null;

  function loadJsQR() {
    if (window.jsQR) { return Promise.resolve(window.jsQR); }
    if (!jsqrLoading) {
      jsqrLoading = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = JSQR;
        s.onload = function () { resolve(window.jsQR); };
        s.onerror = function () { jsqrLoading = null; reject(new Error("jsQR")); };
        document.head.appendChild(s);
      });
    }
    return jsqrLoading;
  }

  /* The text of the first QR code in an image, video frame or canvas with jsQR, or null. */
  function decodeWithJsQR(source, width, height) {
    return loadJsQR().then(function (jsQR) {
      var canvas = document.createElement("canvas");
      var scale = Math.min(1, 800 / Math.max(width, height));  // cheap on phones
      canvas.width = Math.max(1, Math.round(width * scale));
      canvas.height = Math.max(1, Math.round(height * scale));
      var ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
      var img = ctx.getImageData(0, 0, canvas.width, canvas.height);
      var code = jsQR(img.data, img.width, img.height, { inversionAttempts: "attemptBoth" });
      return code && code.data ? code.data : null;
    });
  }

  var detector = null;
  function nativeDetector() {
    if (detector !== null) { return Promise.resolve(detector); }
    if (!("BarcodeDetector" in window)) { detector = false; return Promise.resolve(false); }
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      detector = formats.indexOf("qr_code") >= 0
        ? new window.BarcodeDetector({ formats: ["qr_code"] }) : false;
      return detector;
    }, function () { detector = false; return false; });
  }

  /* The text of a QR code in the source, by the browser's detector or by jsQR. */
  function decode(source, width, height) {
    return nativeDetector().then(function (d) {
      if (!d) { return decodeWithJsQR(source, width, height); }
      return d.detect(source).then(function (codes) {
        return codes.length ? codes[0].rawValue : null;
      }, function () { return decodeWithJsQR(source, width, height); });
    });
  }

  window.borderflowScan = { decode: decode, decodeWithJsQR: decodeWithJsQR };

  function setUp(form) {
    var button = form.querySelector("[data-scan-start]");
    var stopButton = form.querySelector("[data-scan-stop]");
    var box = form.querySelector("[data-scan-box]");
    var video = form.querySelector("video");
    var status = form.querySelector("[data-scan-status]");
    var field = form.querySelector("input[name=q]");
    var stream = null;
    var timer = null;

    function say(text) { status.textContent = text; }

    function stop() {
      if (timer) { clearTimeout(timer); timer = null; }
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
      video.srcObject = null;
      box.hidden = true;
      button.hidden = false;
    }

    function look() {
      timer = null;
      if (!stream) { return; }
      if (video.readyState < 2 || !video.videoWidth) { timer = setTimeout(look, 200); return; }
      decode(video, video.videoWidth, video.videoHeight).then(function (text) {
        if (!stream) { return; }
        if (text) {
          stop();
          field.value = text.trim();
          say(form.dataset.textFound);
          form.submit();
        } else {
          timer = setTimeout(look, 250);
        }
      }, function () {
        stop();
        say(form.dataset.textFailed);
      });
    }

    button.addEventListener("click", function () {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        say(form.dataset.textInsecure);
        return;
      }
      say(form.dataset.textStarting);
      navigator.mediaDevices.getUserMedia({
        video: { facingMode: { ideal: "environment" } }, audio: false
      }).then(function (s) {
        stream = s;
        video.srcObject = s;
        box.hidden = false;
        button.hidden = true;
        video.play().catch(function () { /* muted inline video plays; ignore */ });
        say(form.dataset.textLooking);
        stopButton.focus();
        look();
      }, function () {
        stop();
        say(form.dataset.textDenied);
      });
    });
    stopButton.addEventListener("click", function () {
      stop();
      say("");
      button.focus();
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && stream) { stop(); button.focus(); }
    });
  }

  function start() {
    var forms = document.querySelectorAll("form[data-scan]");
    for (var i = 0; i < forms.length; i++) { setUp(forms[i]); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
