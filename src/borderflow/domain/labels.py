"""What people read instead of codes: every code a page, receipt, report or notice shows,
with its Vietnamese, English and Chinese label. The one place for them.

Codes of the reference network (gates, yards, staging areas, corridors, goods groups, steps,
reason codes) are named by the network itself (:func:`network_name`); the tables below hold
every other kind. API responses keep the codes; only what people read goes through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from borderflow.domain.network import Names, Network

L = Names

TABLES: dict[str, dict[str, Names]] = {
    "status": {
        "declared": L("Đã khai báo", "Declared", "已申报"),
        "at_staging": L("Đang chờ ở bãi chờ", "Waiting in the staging area", "在待检停车场等候"),
        "called": L("Được gọi vào cửa khẩu", "Called to the gate", "已被叫号前往口岸"),
        "in_gate_area": L("Trong khu vực cửa khẩu", "In the gate area", "在口岸区域内"),
        "completed": L("Đã hoàn thành", "Completed", "已完成"),
        "rejected": L("Bị từ chối", "Rejected", "被拒绝"),
        "cancelled": L("Đã hủy", "Cancelled", "已取消"),
        "submitted": L("Đã nộp", "Submitted", "已提交"),
        "review": L("Chờ xem xét", "Awaiting review", "待审核"),
        "matched": L("Đã tự động khớp", "Matched", "已自动匹配"),
        "confirmed": L("Đã xác nhận", "Confirmed", "已确认"),
        "dismissed": L("Đã bỏ qua", "Dismissed", "已忽略"),
    },
    "step_status": {
        "pending": L("Đang chờ", "Pending", "待办"),
        "passed": L("Đã thông qua", "Passed", "已通过"),
        "held": L("Tạm giữ", "On hold", "暂扣"),
        "rejected": L("Bị từ chối", "Rejected", "被拒绝"),
        "skipped": L("Không áp dụng", "Not needed", "不适用"),
    },
    "event": {
        "trip.created": L("Đã khai báo", "Declared", "已申报"),
        "trip.amended": L("Tờ khai được sửa", "Declaration amended", "申报已修改"),
        "trip.cancelled": L("Đã hủy", "Cancelled", "已取消"),
        "trip.called": L("Được gọi vào cửa khẩu", "Called to the gate", "被叫号前往口岸"),
        "trip.returned": L("Trở lại hàng chờ", "Back in the queue", "重新排队"),
        "trip.booked": L("Đã đặt khung giờ", "Slot booked", "已预约时段"),
        "trip.unbooked": L("Đã hủy khung giờ", "Slot released", "已取消预约时段"),
        "trip.prioritised": L("Được ưu tiên", "Priority changed", "优先级已变更"),
        "trip.no_show": L("Không đến đúng hẹn", "Did not arrive in time", "未按时到达"),
        "trip.order_acknowledged": L("Tài xế đã xác nhận lệnh", "Driver acknowledged the order",
                                     "司机已确认指令"),
        "trip.recalled": L("Lệnh gọi được rút lại", "Call withdrawn", "叫号已撤回"),
        "trip.rerouted": L("Chuyển sang cửa khẩu khác", "Sent to another gate", "改派至其他口岸"),
        "step.passed": L("Đã thông qua", "Passed", "已通过"),
        "step.held": L("Tạm giữ", "Held", "暂扣"),
        "step.released": L("Hết tạm giữ", "Released", "解除暂扣"),
        "step.rejected": L("Bị từ chối", "Rejected", "被拒绝"),
        "step.voided": L("Kết quả bị hủy", "Result voided", "结果已作废"),
        "area.entered": L("Vào khu vực", "Entered", "进入"),
        "area.left": L("Rời khu vực", "Left", "离开"),
        "fee.assessed": L("Phí được tính", "Fee assessed", "已核定费用"),
        "fee.settled": L("Phí đã nộp", "Fee paid", "费用已缴"),
        "fee.unsettled": L("Phí chưa nộp đủ", "Fee no longer paid", "费用未缴清"),
    },
    "direction": {
        "export": L("Xuất khẩu", "Export", "出口"),
        "import": L("Nhập khẩu", "Import", "进口"),
        "transit": L("Quá cảnh", "Transit", "过境"),
        "temporary_import_reexport": L("Tạm nhập tái xuất", "Temporary import for re-export",
                                       "暂时进口复出口"),
        "temporary_export_reimport": L("Tạm xuất tái nhập", "Temporary export for re-import",
                                       "暂时出口复进口"),
        "transshipment": L("Chuyển khẩu", "Transshipment", "转口"),
    },
    "priority": {
        "urgent": L("Khẩn cấp", "Urgent", "紧急"),
        "aeo_perishable": L("Doanh nghiệp ưu tiên (AEO), hàng tươi sống",
                            "Authorised economic operator, perishable goods",
                            "经认证的经营者（AEO），易腐货物"),
        "perishable": L("Hàng tươi sống", "Perishable goods", "易腐货物"),
        "aeo": L("Doanh nghiệp ưu tiên (AEO)", "Authorised economic operator",
                 "经认证的经营者（AEO）"),
        "normal": L("Thông thường", "Normal", "普通"),
    },
    "channel": {
        "green": L("Luồng xanh", "Green channel", "绿色通道"),
        "yellow": L("Luồng vàng", "Yellow channel", "黄色通道"),
        "red": L("Luồng đỏ", "Red channel", "红色通道"),
    },
    "vehicle_type": {
        "truck": L("Xe tải", "Truck", "货车"),
        "container_truck": L("Xe chở container", "Container truck", "集装箱车"),
        "tractor_trailer": L("Xe đầu kéo", "Tractor-trailer", "牵引车"),
        "refrigerated_truck": L("Xe tải đông lạnh", "Refrigerated truck", "冷藏车"),
        "tanker": L("Xe bồn", "Tanker", "罐车"),
        "van": L("Xe tải nhỏ", "Van", "厢式货车"),
    },
    "container": {
        "none": L("Không có container", "No container", "无集装箱"),
        "20ft": L("Container 20 feet", "20-foot container", "20英尺集装箱"),
        "40ft": L("Container 40 feet", "40-foot container", "40英尺集装箱"),
    },
    "document_type": {
        "vn_citizen_id": L("Căn cước công dân (12 số)", "Vietnamese citizen ID (12 digits)",
                           "越南公民身份证（12位）"),
        "vn_id_card": L("Chứng minh nhân dân (9 số)", "Vietnamese ID card (9 digits)",
                        "越南旧身份证（9位）"),
        "passport": L("Hộ chiếu", "Passport", "护照"),
        "cn_resident_id": L("Căn cước Trung Quốc", "Chinese resident ID", "中国居民身份证"),
        "border_pass": L("Giấy thông hành biên giới", "Border pass", "边境通行证"),
    },
    "unit": {
        "kg": L("kg", "kg", "千克"),
        "tonne": L("tấn", "tonne", "吨"),
        "piece": L("chiếc", "piece", "件"),
        "carton": L("thùng", "carton", "箱"),
        "bag": L("bao", "bag", "袋"),
        "box": L("hộp", "box", "盒"),
        "crate": L("sọt", "crate", "筐"),
        "pallet": L("pallet", "pallet", "托盘"),
        "litre": L("lít", "litre", "升"),
        "m3": L("m³", "m³", "立方米"),
        "head": L("con", "head", "头"),
        "set": L("bộ", "set", "套"),
        "roll": L("cuộn", "roll", "卷"),
        "bale": L("kiện", "bale", "捆"),
    },
    "quarantine_kind": {
        "none": L("Không cần kiểm dịch", "No quarantine", "无需检疫"),
        "plant": L("Kiểm dịch thực vật", "Plant quarantine", "植物检疫"),
        "animal": L("Kiểm dịch động vật", "Animal quarantine", "动物检疫"),
        "plant_animal": L("Kiểm dịch động vật và thực vật", "Plant and animal quarantine",
                          "动植物检疫"),
    },
    "control_kind": {
        "closure": L("Đóng cửa khẩu", "Gate closed", "口岸关闭"),
        "capacity": L("Thay đổi năng lực thông quan", "Capacity changed", "通关能力调整"),
        "pause": L("Tạm dừng gọi xe", "Calls paused", "暂停叫号"),
        "extended_hours": L("Kéo dài giờ làm việc", "Hours extended", "延长工作时间"),
    },
    "notification_kind": {
        "call_forward": L("Gọi xe vào cửa khẩu", "Called to the gate", "叫号前往口岸"),
        "order_withdrawn": L("Rút lệnh gọi", "Call withdrawn", "叫号撤回"),
        "no_show": L("Không đến đúng hẹn", "Did not arrive in time", "未按时到达"),
        "rerouted": L("Chuyển cửa khẩu", "Sent to another gate", "改派口岸"),
        "booking_released": L("Khung giờ bị hủy", "Slot released", "预约时段已取消"),
        "cancelled": L("Chuyến bị hủy", "Trip cancelled", "行程已取消"),
        "held": L("Tạm giữ", "Held", "暂扣"),
        "rejected": L("Bị từ chối", "Rejected", "被拒绝"),
        "prioritised": L("Thay đổi ưu tiên", "Priority changed", "优先级变更"),
    },
    "notification_channel": {
        "in_app": L("Trong ứng dụng", "In the app", "应用内"),
        "sms": L("Tin nhắn SMS", "SMS", "短信"),
        "webhook": L("Webhook", "Webhook", "Webhook"),
    },
    "delivery_status": {
        "pending": L("Đang chờ gửi", "Waiting to be sent", "待发送"),
        "sent": L("Đã gửi", "Sent", "已发送"),
        "failed": L("Gửi không được", "Not delivered", "发送失败"),
    },
    "invoice_status": {
        "open": L("Chưa nộp", "Unpaid", "未缴"),
        "paid": L("Đã nộp", "Paid", "已缴"),
        "waived": L("Được miễn", "Waived", "已免除"),
        "refunded": L("Đã hoàn trả", "Refunded", "已退还"),
        "void": L("Đã hủy", "Cancelled", "已作废"),
    },
    "invoice_stage": {
        "estimate": L("Tạm tính", "Estimate", "预估"),
        "final": L("Chính thức", "Final", "正式"),
    },
    "payment_method": {
        "cash": L("Tiền mặt", "Cash", "现金"),
        "bank_transfer": L("Chuyển khoản", "Bank transfer", "银行转账"),
        "online": L("Thanh toán trực tuyến", "Online payment", "在线支付"),
        "vnpay": L("Thanh toán trực tuyến (VNPAY)", "Online payment (VNPAY)", "在线支付（VNPAY）"),
    },
    "payment_status": {
        "completed": L("Thành công", "Completed", "已完成"),
        "voided": L("Đã hủy", "Voided", "已作废"),
        "refunded": L("Đã hoàn trả", "Refunded", "已退还"),
        "pending": L("Đang xử lý", "In progress", "处理中"),
        "failed": L("Không thành công", "Failed", "失败"),
    },
    "receipt_status": {
        "completed": L("Hợp lệ", "Valid", "有效"),
        "voided": L("Đã hủy", "Void", "已作废"),
        "refunded": L("Đã hoàn tiền", "Refunded", "已退款"),
    },
    "role": {
        "admin": L("Quản trị hệ thống", "Administrator", "系统管理员"),
        "regulator": L("Điều hành", "Control room", "调度中心"),
        "enterprise": L("Doanh nghiệp", "Enterprise", "企业"),
        "driver": L("Tài xế", "Driver", "司机"),
        "yard_operator": L("Quản lý bãi", "Yard operator", "堆场运营"),
        "customs": L("Hải quan", "Customs", "海关"),
        "border_guard": L("Biên phòng", "Border guard", "边防"),
        "quarantine": L("Kiểm dịch", "Quarantine", "检疫"),
        "health": L("Y tế", "Health", "卫生检疫"),
        "traffic_police": L("Cảnh sát giao thông", "Traffic police", "交警"),
        "cashier": L("Thu phí", "Cashier", "收费员"),
        "partner_liaison": L("Liên lạc phía bạn", "Partner liaison", "对方联络员"),
        "camera": L("Camera", "Camera", "摄像头"),
        "public": L("Công chúng", "Public", "公众"),
    },
    "source": {
        "officer_screen": L("Màn hình kiểm soát", "Checkpoint screen", "检查站屏幕"),
        "api": L("Hệ thống", "System interface", "系统接口"),
        "gps": L("GPS", "GPS", "GPS"),
        "camera": L("Camera", "Camera", "摄像头"),
        "regulator": L("Điều hành", "Control room", "调度中心"),
        "system": L("Hệ thống", "The platform", "平台"),
    },
    "area_kind": {
        "staging": L("Bãi chờ", "Staging area", "待检停车场"),
        "gate_area": L("Khu vực cửa khẩu", "Gate area", "口岸区域"),
        "yard": L("Bãi", "Yard", "堆场"),
    },
    "gate_kind": {
        "international": L("Cửa khẩu quốc tế", "International gate", "国际口岸"),
        "main": L("Cửa khẩu chính", "Main gate", "主要口岸"),
        "secondary": L("Cửa khẩu phụ", "Secondary gate", "辅助口岸"),
        "dedicated_route": L("Đường chuyên dụng vận chuyển hàng hóa", "Dedicated goods road",
                             "货物专用通道"),
        "clearance_route": L("Lối mở thông quan hàng hóa", "Goods clearance route",
                             "货物通关便道"),
    },
    "day_kind": {
        "regular": L("Ngày thường", "Regular day", "工作日"),
        "extended": L("Kéo dài giờ", "Extended hours", "延长时间"),
        "holiday": L("Ngày lễ", "Holiday", "节假日"),
        "exception": L("Ngoại lệ", "Exception", "例外"),
        "closed": L("Đóng cửa", "Closed", "关闭"),
    },
    "sim_job_status": {
        "queued": L("Đang chờ chạy", "Waiting to run", "等待运行"),
        "running": L("Đang chạy", "Running", "运行中"),
        "done": L("Đã xong", "Done", "已完成"),
        "failed": L("Không chạy được", "Failed", "运行失败"),
    },
    "recipient": {
        "driver": L("Tài xế", "Driver", "司机"),
        "enterprise": L("Doanh nghiệp", "Enterprise", "企业"),
    },
    "deadline": {
        "call-grace": L("Đến cửa khẩu sau khi được gọi", "Reach the gate after being called",
                        "被叫号后到达口岸"),
        "return": L("Trở về từ nước bạn", "Return from the partner country", "从对方国家返回"),
        "dwell": L("Rời khu vực cửa khẩu trong thời hạn", "Leave the gate area in time",
                   "按时离开口岸区"),
    },
}
"""Each kind of code: code -> its label in vi, en and zh."""

NETWORK_KINDS = frozenset({"gate", "yard", "park", "corridor", "goods_group", "step", "reason",
                           "area"})
"""Kinds named by the reference network."""


def network_name(network: Network | None, kind: str, code: str) -> Names | None:
    """The network's own name of one of its codes (``area`` is ``kind:code``, as in the
    occupancy figures), or None when the network has no such code."""
    if network is None:
        return None
    if kind == "gate":
        gate = network.gate(code)
        return gate.name if gate else None
    if kind == "yard":
        found = network.yard(code)
        return found[1].name if found else None
    if kind == "park":
        park = next((s for s in network.staging_areas if s.code == code), None)
        return park.name if park else None
    if kind == "corridor":
        road = next((c for c in network.corridors if c.code == code), None)
        return road.name if road else None
    if kind == "goods_group":
        group = network.group(code)
        return group.name if group else None
    if kind == "reason":
        reason = network.reason(code)
        return Names(reason.name_vi, reason.name_en, reason.name_zh) if reason else None
    if kind == "step":
        for procedure in network.procedures:
            step = next((s for s in procedure.steps if s.code == code), None)
            if step is not None:
                return Names(step.name_vi, step.name_en, step.name_zh)
        return None
    if kind == "area":
        area_kind, _, area_code = code.partition(":")
        return network_name(network, {"staging": "park", "gate_area": "gate"}.get(
            area_kind, area_kind), area_code)
    return None


def names(kind: str, code: str, network: Network | None = None,
          state: Mapping[str, Any] | None = None) -> Names | None:
    """The vi/en/zh names of a code of a kind: the network's names first (a trip's own
    procedure, in ``state``, for its steps), then the tables; None when nobody names it."""
    if kind == "step" and state is not None:
        spec = next((s for s in state.get("procedure", {}).get("steps", ())
                     if s.get("code") == code), None)
        if spec is not None:
            return Names(spec["name_vi"], spec["name_en"], spec["name_zh"])
    if kind in NETWORK_KINDS:
        return network_name(network, kind, code)
    return TABLES.get(kind, {}).get(code)


def label(kind: str, code: str, lang: str, network: Network | None = None,
          state: Mapping[str, Any] | None = None) -> str:
    """The label of a code in a language (``vi``, ``en``, ``zh``); a code nobody names is
    shown as it is (the page tests fail on those)."""
    found = names(kind, code, network, state)
    if found is None:
        return code
    return str(getattr(found, lang, None) or found.en)
